package records

import (
	"maps"
	"math"
	"slices"
	"testing"

	"github.com/ticketsaga/saga/ticket-service/internal/ticket"
)

// TestSumStock: the stock summed over shards refuses a negative or
// overflowing shard (only a corrupt one can be either).
func TestSumStock(t *testing.T) {
	t.Parallel()
	const maxAmount = 1<<53 - 1
	if sum, ok := SumStock([]int64{maxAmount, maxAmount, 0}); !ok || sum != 2*maxAmount {
		t.Errorf("SumStock = %d %v", sum, ok)
	}
	if _, ok := SumStock([]int64{math.MaxInt64, 1}); ok {
		t.Error("SumStock overflowed silently")
	}
	if _, ok := SumStock([]int64{5, -1}); ok {
		t.Error("SumStock accepted a negative shard")
	}
}

// TestTake: a grant's tickets come from the shards it was decided on, in
// shard order, never more than a shard holds; a grant that is not granted
// takes nothing, and one the shards cannot serve is an error.
func TestTake(t *testing.T) {
	t.Parallel()
	granted := func(n int64) ticket.Saga { return ticket.Saga{State: StateGranted, Quantity: n} }
	for _, c := range []struct {
		d     ticket.Saga
		stock map[int]int64
		want  map[int]int64
	}{
		{granted(2), map[int]int64{2: 5}, map[int]int64{2: 2}},
		{granted(2), map[int]int64{1: 2}, map[int]int64{1: 2}},
		{granted(2), map[int]int64{3: 1, 0: 1, 1: 0, 2: 0}, map[int]int64{0: 1, 3: 1}},
		{granted(3), map[int]int64{7: 2, 5: 2}, map[int]int64{5: 2, 7: 1}},
		{ticket.Saga{State: StateFailed}, map[int]int64{0: 5}, nil},
		{ticket.Saga{State: StateCancelled}, map[int]int64{0: 5}, nil},
	} {
		if got, err := Take(c.d, c.stock); err != nil || !maps.Equal(got, c.want) {
			t.Errorf("Take(%+v, %v) = %v, %v; want %v", c.d, c.stock, got, err, c.want)
		}
	}
	if got, err := Take(granted(3), map[int]int64{0: 1, 1: 1}); err == nil {
		t.Errorf("Take of 3 from 2 = %v, want an error", got)
	}
}

// TestSagaGiveBack: a cancel gives back to the shards the saga says its
// grant took from, exactly what it took, after a re-PUT to the shard of
// the same number modulo the shards there are now; a saga that does not
// hold what the cancel gives back is an error, as is one whose shards are
// not shards.
func TestSagaGiveBack(t *testing.T) {
	t.Parallel()
	var s Saga
	d := ticket.Saga{State: StateGranted, UserID: "u", TicketID: "t", Quantity: 5}
	s.SetDomain(d, map[int]int64{1: 2, 10: 3, 4: 0})
	if !maps.Equal(s.Taken, map[string]int64{"1": 2, "10": 3}) {
		t.Fatalf("taken stored as %v", s.Taken)
	}
	if got, err := s.Domain(); err != nil || got != d {
		t.Fatalf("Domain = %+v, %v; want %+v", got, err, d)
	}
	if got, err := s.GiveBack(5, 16); err != nil || !maps.Equal(got, map[int]int64{1: 2, 10: 3}) {
		t.Errorf("GiveBack(5) onto 16 shards = %v, %v", got, err)
	}
	if got, err := s.GiveBack(5, 4); err != nil || !maps.Equal(got, map[int]int64{1: 2, 2: 3}) {
		t.Errorf("GiveBack(5) onto 4 shards = %v, %v", got, err)
	}
	if got, err := s.GiveBack(4, 16); err == nil {
		t.Errorf("GiveBack(4) of 5 taken = %v, want an error", got)
	}
	s.SetDomain(ticket.Saga{State: StateCancelled, UserID: "u", TicketID: "t"}, nil)
	if s.Taken != nil {
		t.Errorf("a cancelled saga keeps taken %v", s.Taken)
	}
	if got, err := s.GiveBack(0, 16); err != nil || len(got) != 0 {
		t.Errorf("GiveBack(0) of nothing taken = %v, %v", got, err)
	}
	for _, bad := range []map[string]int64{{"x": 1}, {"-1": 1}, {"10000": 1}, {"0": -1}} {
		s := Saga{State: StateGranted, Quantity: 1, Taken: bad}
		if _, err := s.Domain(); err == nil {
			t.Errorf("Domain with taken %v: no error", bad)
		}
		if _, err := s.GiveBack(1, 16); err == nil {
			t.Errorf("GiveBack with taken %v: no error", bad)
		}
	}
}

func TestGiveBack(t *testing.T) {
	t.Parallel()
	// Taken from shards 1 and 10 of 16; the ticket has 4 shards now.
	got := GiveBack(map[int]int64{1: 2, 10: 3}, 4)
	if !maps.Equal(got, map[int]int64{1: 2, 2: 3}) {
		t.Errorf("GiveBack onto 4 shards = %v", got)
	}
	if got := GiveBack(map[int]int64{1: 2, 5: 1}, 16); !maps.Equal(got, map[int]int64{1: 2, 5: 1}) {
		t.Errorf("GiveBack onto the same shards = %v", got)
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

func TestDefaultShards(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		stock int64
		upTo  int
		want  int
	}{{0, 16, 1}, {1, 16, 1}, {5, 16, 5}, {16, 16, 16}, {1_000_000, 16, 16}, {9007199254740991, 100, 100}} {
		if got := DefaultShards(c.stock, c.upTo); got != c.want {
			t.Errorf("DefaultShards(%d, %d) = %d, want %d", c.stock, c.upTo, got, c.want)
		}
	}
}
