package ticket

import (
	"slices"
	"testing"
)

func TestGrant(t *testing.T) {
	t.Parallel()
	req := Request{UserID: "u", TicketID: "t", Quantity: 2, Price: 200}
	for _, tc := range []struct {
		name       string
		saga       Saga
		ticket     *Ticket
		wantReason string
		wantStock  int64 // -1: unchanged
	}{
		{"granted", Saga{}, &Ticket{Price: 100, Stock: 5}, "", 3},
		{"last ones", Saga{}, &Ticket{Price: 100, Stock: 2}, "", 0},
		{"sold out", Saga{}, &Ticket{Price: 100, Stock: 1}, ReasonSoldOut, -1},
		{"unknown", Saga{}, nil, ReasonUnknownTicket, -1},
		{"price mismatch", Saga{}, &Ticket{Price: 101, Stock: 5}, ReasonPriceMismatch, -1},
		{"after cancel", Saga{State: StateCancelled}, &Ticket{Price: 100, Stock: 5}, ReasonCompensated, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := Grant(tc.saga, tc.ticket, req)
			if got.Reason != tc.wantReason {
				t.Fatalf("reason = %q, want %q", got.Reason, tc.wantReason)
			}
			if tc.wantStock < 0 && got.Ticket != nil {
				t.Fatalf("stock changed to %d", got.Ticket.Stock)
			}
			if tc.wantStock >= 0 && (got.Ticket == nil || got.Ticket.Stock != tc.wantStock || got.Saga.State != StateGranted) {
				t.Fatalf("got %+v, want stock %d granted", got, tc.wantStock)
			}
		})
	}
}

func TestCancel(t *testing.T) {
	t.Parallel()
	got := Cancel(Saga{State: StateGranted, UserID: "u", TicketID: "t", Quantity: 2}, &Ticket{Price: 1, Stock: 3})
	if got.Ticket == nil || got.Ticket.Stock != 5 || got.Saga.State != StateCancelled || got.Saga.Quantity != 0 {
		t.Fatalf("cancel of a grant = %+v", got)
	}
	for _, s := range []Saga{{}, {State: StateFailed}, {State: StateCancelled}} {
		if got := Cancel(s, &Ticket{Stock: 3}); got.Ticket != nil || got.Saga.State != StateCancelled {
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
