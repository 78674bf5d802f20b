package ticket

import (
	"maps"
	"slices"
	"testing"
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
		{"sold out", Saga{}, tk, map[int]int64{0: 1, 1: 0, 2: 0, 3: 0}, true, ReasonSoldOut, nil, false},
		{"unknown", Saga{}, nil, nil, false, ReasonUnknownTicket, nil, false},
		{"price mismatch", Saga{}, &Ticket{Price: 101}, map[int]int64{0: 5}, false, ReasonPriceMismatch, nil, false},
		{"after cancel", Saga{State: StateCancelled}, tk, map[int]int64{0: 5}, false, ReasonCompensated, nil, false},
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

func TestSplit(t *testing.T) {
	t.Parallel()
	if got := Split(10, 4); !slices.Equal(got, []int64{3, 3, 2, 2}) {
		t.Fatalf("Split(10, 4) = %v", got)
	}
	if got := Split(0, 2); !slices.Equal(got, []int64{0, 0}) {
		t.Fatalf("Split(0, 2) = %v", got)
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
