package records

import (
	"maps"
	"math"
	"slices"
	"testing"
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
