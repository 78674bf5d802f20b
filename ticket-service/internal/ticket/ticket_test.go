package ticket

import (
	"slices"
	"testing"

	"github.com/ticketsaga/saga/shared/saga"
)

// TestGrant: the grant decides on the stock it is given. The store gives
// it at least the quantity, or all the stock there is: fewer is sold_out.
// A cancel before it, an unknown ticket and a wrong price come first,
// whatever the stock.
func TestGrant(t *testing.T) {
	t.Parallel()
	req := Request{UserID: "u", TicketID: "t", Quantity: 2, Price: 200}
	tk := &Ticket{Price: 100}
	granted := Saga{State: StateGranted, UserID: "u", TicketID: "t", Quantity: 2}
	failed := Saga{State: StateFailed, UserID: "u", TicketID: "t"}
	cancelled := Saga{State: StateCancelled, UserID: "u", TicketID: "t"}
	for _, tc := range []struct {
		name       string
		saga       Saga
		ticket     *Ticket
		available  int64
		wantReason string
		want       Saga
	}{
		{"more than enough", Saga{}, tk, 5, "", granted},
		{"exactly the last ones", Saga{}, tk, 2, "", granted},
		{"one short: sold out", Saga{}, tk, 1, saga.ReasonSoldOut, failed},
		{"none left: sold out", Saga{}, tk, 0, saga.ReasonSoldOut, failed},
		{"unknown", Saga{}, nil, 0, saga.ReasonUnknownTicket, failed},
		{"unknown, whatever the stock", Saga{}, nil, 5, saga.ReasonUnknownTicket, failed},
		{"price mismatch", Saga{}, &Ticket{Price: 101}, 5, saga.ReasonPriceMismatch, failed},
		{"price mismatch before sold out", Saga{}, &Ticket{Price: 101}, 0, saga.ReasonPriceMismatch, failed},
		{"after cancel", cancelled, tk, 5, saga.ReasonTimeout, cancelled},
		{"after cancel, unknown", cancelled, nil, 0, saga.ReasonTimeout, cancelled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := Grant(tc.saga, tc.ticket, tc.available, req)
			if got.Reason != tc.wantReason || got.Saga != tc.want {
				t.Fatalf("Grant(available %d) = %+v, want reason %q saga %+v", tc.available, got, tc.wantReason, tc.want)
			}
		})
	}
}

// TestPriceAtTheBoundaries: a unit price times a quantity that does not fit
// 64 bits matches no total: before, 2^62 × 4 wrapped to 0 and a huge order
// could pass for a cheap one.
func TestPriceAtTheBoundaries(t *testing.T) {
	t.Parallel()
	const maxAmount = 1<<53 - 1
	for _, tc := range []struct {
		unit, qty, total int64
		want             bool
	}{
		{100, 2, 200, true},
		{maxAmount, 1, maxAmount, true},
		{1, maxAmount, maxAmount, true},
		{maxAmount, 2, 2 * maxAmount, true}, // exact in int64; the API refuses the total anyway
		{1 << 62, 4, 0, false},
		{1 << 62, 5, 1 << 62, false},             // wraps to 2^62 in 64 bits
		{maxAmount, maxAmount, 1 - 1<<54, false}, // the product modulo 2^64, read as an int64
		{3037000500, 3037000500, -1, false},      // just past int64
		{0, 1, 0, false}, {1, 0, 0, false}, {-1, -1, 1, false},
	} {
		if got := PriceMatches(tc.unit, tc.qty, tc.total); got != tc.want {
			t.Errorf("PriceMatches(%d, %d, %d) = %v, want %v", tc.unit, tc.qty, tc.total, got, tc.want)
		}
	}
	g := Grant(Saga{}, &Ticket{Price: 1 << 62}, 10, Request{UserID: "u", TicketID: "t", Quantity: 4, Price: 0})
	if g.Reason != saga.ReasonPriceMismatch {
		t.Errorf("Grant with a wrapping price = %+v", g)
	}
}

// TestCancel: a cancel gives back what the grant holds, its quantity; with
// no grant it gives back nothing and still blocks a late grant.
func TestCancel(t *testing.T) {
	t.Parallel()
	got := Cancel(Saga{State: StateGranted, UserID: "u", TicketID: "t", Quantity: 2})
	if got.Give != 2 || got.Saga != (Saga{State: StateCancelled, UserID: "u", TicketID: "t"}) {
		t.Fatalf("cancel of a grant = %+v", got)
	}
	for _, s := range []Saga{{}, {State: StateFailed}, {State: StateCancelled}} {
		if got := Cancel(s); got.Give != 0 || got.Saga.State != StateCancelled {
			t.Fatalf("Cancel(%+v) = %+v, want null compensation", s, got)
		}
	}
	if g := Grant(Cancel(Saga{}).Saga, &Ticket{Price: 1}, 1, Request{Quantity: 1, Price: 1}); g.Reason != saga.ReasonTimeout {
		t.Fatalf("a grant after a null compensation = %+v, want timeout", g)
	}
}

func TestHoldings(t *testing.T) {
	t.Parallel()
	got := Holdings([]Saga{
		{State: StateGranted, TicketID: "a", Quantity: 1},
		{State: StateCancelled, TicketID: "a", Quantity: 0},
		{State: StateGranted, TicketID: "b", Quantity: 2},
		{State: StateGranted, TicketID: "a", Quantity: 3},
		{State: StateFailed, TicketID: "c"},
	})
	want := []Holding{{"a", 4}, {"b", 2}}
	if !slices.Equal(got, want) {
		t.Fatalf("Holdings = %v, want %v", got, want)
	}
}
