package firestore

import (
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The simulated write limit gives each document one write per interval:
// a write to a busy document waits for its slot, one whose slot is more
// than contentionWait away is ABORTED (retryable), and documents do not
// share slots.
func TestWriteBudget(t *testing.T) {
	t.Parallel()
	now := time.Unix(1000, 0)
	var slept []time.Duration
	b := newWriteBudget(4) // one write per 250 ms
	b.now = func() time.Time { return now }
	b.sleep = func(d time.Duration) { slept = append(slept, d) }
	for range 5 {
		if err := b.take("shards/0"); err != nil {
			t.Fatal(err)
		}
	}
	want := []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, 750 * time.Millisecond, time.Second}
	if len(slept) != len(want) {
		t.Fatalf("waits %v, want %v", slept, want)
	}
	for i := range want {
		if slept[i] != want[i] {
			t.Fatalf("waits %v, want %v", slept, want)
		}
	}
	// The sixth in the same instant would wait 1.25 s: contention.
	if err := b.take("shards/0"); status.Code(err) != codes.Aborted {
		t.Fatalf("take past the wait = %v, want ABORTED", err)
	}
	// Another document has its own slots.
	if err := b.take("shards/1"); err != nil || len(slept) != len(want) {
		t.Fatalf("another document: %v, waits %v", err, slept)
	}
	// Once the queued writes' slots have passed, the document is free again.
	now = now.Add(2 * time.Second)
	if err := b.take("shards/0"); err != nil || len(slept) != len(want) {
		t.Fatalf("after the queue drained: %v, waits %v", err, slept)
	}
	var off *writeBudget
	if err := off.take("shards/0"); err != nil {
		t.Fatalf("a nil budget takes nothing: %v", err)
	}
	if newWriteBudget(0) != nil {
		t.Fatal("a rate of 0 must be off")
	}
}

// A ticket type's shard count is remembered for a minute, then forgotten.
func TestShardCounts(t *testing.T) {
	t.Parallel()
	now := time.Unix(1000, 0)
	c := newShardCounts()
	c.now = func() time.Time { return now }
	if n := c.get("show"); n != 0 {
		t.Fatalf("unknown ticket: %d", n)
	}
	c.set("show", 8)
	now = now.Add(shardCountTTL)
	if n := c.get("show"); n != 8 {
		t.Fatalf("after %s: %d, want 8", shardCountTTL, n)
	}
	now = now.Add(time.Second)
	if n := c.get("show"); n != 0 {
		t.Fatalf("expired: %d, want 0", n)
	}
}
