package ticket

import (
	"maps"
	"slices"
	"testing"

	"github.com/ticketsaga/saga/shared/saga"
)

func TestGrant(t *testing.T) {
	t.Parallel()
	req := Request{UserID: "u", TicketID: "t", Quantity: 2, Price: 200}
	tk := &Ticket{Price: 100}
	for _, tc := range []struct {
		name       string
		saga       Saga
		ticket     *Ticket
		shards     map[int]int64
		all        bool
		wantReason string
		wantTake   map[int]int64
		wantAll    bool
	}{
		{"one shard serves it", Saga{}, tk, map[int]int64{2: 5}, false, "", map[int]int64{2: 2}, false},
		{"exactly the last ones", Saga{}, tk, map[int]int64{1: 2}, false, "", map[int]int64{1: 2}, false},
		{"shard short: read all", Saga{}, tk, map[int]int64{3: 1}, false, "", nil, true},
		{"spread over shards", Saga{}, tk, map[int]int64{0: 1, 1: 0, 2: 0, 3: 1}, true, "", map[int]int64{0: 1, 3: 1}, false},
		{"sold out", Saga{}, tk, map[int]int64{0: 1, 1: 0, 2: 0, 3: 0}, true, saga.ReasonSoldOut, nil, false},
		{"unknown", Saga{}, nil, nil, false, saga.ReasonUnknownTicket, nil, false},
		{"price mismatch", Saga{}, &Ticket{Price: 101}, map[int]int64{0: 5}, false, saga.ReasonPriceMismatch, nil, false},
		{"after cancel", Saga{State: StateCancelled}, tk, map[int]int64{0: 5}, false, saga.ReasonTimeout, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := Grant(tc.saga, tc.ticket, tc.shards, tc.all, req)
			if got.Reason != tc.wantReason || got.NeedAll != tc.wantAll || !maps.Equal(got.Take, tc.wantTake) && (len(got.Take) > 0 || len(tc.wantTake) > 0) {
				t.Fatalf("Grant = %+v, want reason %q take %v needAll %v", got, tc.wantReason, tc.wantTake, tc.wantAll)
			}
			if tc.wantTake != nil && (got.Saga.State != StateGranted || !maps.Equal(got.Saga.Taken, tc.wantTake)) {
				t.Fatalf("saga = %+v", got.Saga)
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
	g := Grant(Saga{}, &Ticket{Price: 1 << 62}, map[int]int64{0: 10}, true, Request{UserID: "u", TicketID: "t", Quantity: 4, Price: 0})
	if g.Reason != saga.ReasonPriceMismatch {
		t.Errorf("Grant with a wrapping price = %+v", g)
	}
}

func TestCancel(t *testing.T) {
	t.Parallel()
	got := Cancel(Saga{State: StateGranted, UserID: "u", TicketID: "t", Quantity: 2, Taken: map[int]int64{1: 2}})
	if !maps.Equal(got.Give, map[int]int64{1: 2}) || got.Saga.State != StateCancelled || got.Saga.Quantity != 0 {
		t.Fatalf("cancel of a grant = %+v", got)
	}
	for _, s := range []Saga{{}, {State: StateFailed}, {State: StateCancelled}} {
		if got := Cancel(s); len(got.Give) != 0 || got.Saga.State != StateCancelled {
			t.Fatalf("Cancel(%+v) = %+v, want null compensation", s, got)
		}
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
