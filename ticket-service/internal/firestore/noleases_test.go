//go:build localstack

package firestore

import (
	"context"
	"testing"
)

// TestNoLeasesNeverWait: without leases, grants share shards and never
// wait for one another in process; the last-tickets path never waits for
// a reservation either.
func TestNoLeasesNeverWait(t *testing.T) {
	t.Parallel()
	var l noLeases
	for range 3 {
		if k, _, err := l.one(context.Background(), "t", 1); err != nil || k != 0 {
			t.Fatalf("one = %d, %v, want shard 0 at once", k, err)
		}
	}
	for range 2 {
		if _, ok := l.reserve("t", []int{0}); !ok {
			t.Fatal("a reservation was refused")
		}
	}
	if held, _ := l.heldBy("t"); held(0) {
		t.Error("a shard is held")
	}
}
