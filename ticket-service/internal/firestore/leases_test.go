package firestore

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestLeasesKeepGrantsApart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := newLeases()
	held := map[int]bool{}
	var releases []func(bool)
	for range 3 {
		k, release, err := l.one(ctx, "t", 3)
		if err != nil || held[k] || k >= 3 {
			t.Fatalf("one = %d, %v (held %v)", k, err, held)
		}
		held[k] = true
		releases = append(releases, release)
	}
	// Every shard is taken: the next caller waits until one is released.
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, _, err := l.one(short, "t", 3); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("one on a full pool = %v, want to wait", err)
	}
	got := make(chan int, 1)
	go func() {
		k, release, err := l.one(ctx, "t", 3)
		if err == nil {
			release(false)
		}
		got <- k
	}()
	releases[1](false)
	select {
	case <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("a released shard was not handed on")
	}
	// Another ticket type is independent.
	if _, release, err := l.one(ctx, "other", 3); err != nil {
		t.Fatal(err)
	} else {
		release(false)
	}
	releases[0](false)
	releases[2](false)
}

// TestLeasesForgetIdleTicketTypes: the pools hold only the ticket types
// being granted about now, not every ticket type ever sold.
func TestLeasesForgetIdleTicketTypes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := newLeases()
	now := time.Unix(1000, 0)
	l.now = func() time.Time { return now }
	for i := range 1000 {
		_, release, err := l.one(ctx, fmt.Sprint("ticket-", i), 4)
		if err != nil {
			t.Fatal(err)
		}
		release(false)
	}
	now = now.Add(2 * poolMemory)
	_, releaseBusy, err := l.one(ctx, "busy", 4)
	if err != nil {
		t.Fatal(err)
	}
	if n := l.size(); n != 1 {
		t.Errorf("%d pools while one ticket type is leased, want 1", n)
	}
	releaseBusy(false)
	now = now.Add(2 * poolMemory)
	if _, release, err := l.one(ctx, "next", 4); err != nil {
		t.Fatal(err)
	} else {
		release(false)
	}
	if n := l.size(); n != 1 {
		t.Errorf("%d pools a while after every lease but one was released, want 1", n)
	}
}

// Of the free shards, a grant gets the one released longest ago, so the
// writes to each document are as far apart as they can be.
func TestLeasesHandOutTheShardReleasedLongestAgo(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := newLeases()
	var order []int
	for range 8 { // one grant at a time: round robin over the 4 shards
		k, release, err := l.one(ctx, "t", 4)
		if err != nil {
			t.Fatal(err)
		}
		order = append(order, k)
		release(false)
	}
	for i := 4; i < 8; i++ {
		if order[i] != order[i-4] {
			t.Fatalf("leased %v, want each round over the 4 shards in the same order", order)
		}
	}
	seen := map[int]bool{}
	for _, k := range order[:4] {
		seen[k] = true
	}
	if len(seen) != 4 {
		t.Fatalf("leased %v, want all 4 shards before any again", order)
	}
}

// TestLeasesSpreadInstances: two instances (two lease sets) granting one
// type of many shards start on different shards: each queue begins in its
// own random order.
func TestLeasesSpreadInstances(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, b := newLeases(), newLeases()
	same := 0
	for range 64 {
		ka, ra, _ := a.one(ctx, "sale", 4096)
		kb, rb, _ := b.one(ctx, "sale", 4096)
		if ka == kb {
			same++
		}
		ra(false)
		rb(false)
	}
	// Independent random orders meet by chance about 64/4096 times.
	if same > 4 {
		t.Errorf("two instances leased the same shard %d times in 64", same)
	}
}

// TestLeasesSkipEmptyShards: a shard found empty leaves the queue; when
// every shard is out the grant is told so at once (it asks Firestore for
// the stock instead), until the emptiness expires or the last-tickets
// path finds stock there again.
func TestLeasesSkipEmptyShards(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := newLeases()
	now := time.Unix(1000, 0)
	l.now = func() time.Time { return now }
	for range 3 {
		_, release, err := l.one(ctx, "t", 3)
		if err != nil {
			t.Fatal(err)
		}
		release(true)
	}
	if _, _, err := l.one(ctx, "t", 3); !errors.Is(err, errNoShard) {
		t.Fatalf("every shard empty: %v, want errNoShard", err)
	}
	l.refound("t", []int{2})
	if k, release, err := l.one(ctx, "t", 3); err != nil || k != 2 {
		t.Fatalf("after the last-tickets path found stock in shard 2: %d, %v", k, err)
	} else {
		release(false)
	}
	now = now.Add(2 * emptyFor)
	seen := map[int]bool{}
	for range 3 {
		k, release, err := l.one(ctx, "t", 3)
		if err != nil {
			t.Fatalf("after the emptiness expired: %v", err)
		}
		seen[k] = true
		defer release(false)
	}
	if len(seen) != 3 {
		t.Errorf("leased %v after expiry, want all three shards", seen)
	}
}

// TestLeasesReservedShardsAreNotLeased: a shard the last-tickets path
// reserved is neither leased nor reserved again until it is released, and
// the release wakes whoever waits for it.
func TestLeasesReservedShardsAreNotLeased(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := newLeases()
	k, release, err := l.one(ctx, "t", 2)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := l.reserve("t", []int{k}); ok {
		t.Fatalf("reserved shard %d while it is leased", k)
	}
	held, released := l.heldBy("t")
	if !held(k) {
		t.Fatalf("heldBy does not report leased shard %d", k)
	}
	release(false)
	select {
	case <-released:
	default:
		t.Fatal("a release did not close the channel heldBy returned")
	}
	unreserve, ok := l.reserve("t", []int{0, 1})
	if !ok {
		t.Fatal("could not reserve two free shards")
	}
	if _, ok := l.reserve("t", []int{1}); ok {
		t.Fatal("reserved shard 1 twice")
	}
	// Both shards are reserved: a grant goes to the last-tickets path,
	// which waits for the reservation to end.
	if _, _, err := l.one(ctx, "t", 2); !errors.Is(err, errNoShard) {
		t.Fatalf("one with every shard reserved = %v, want %v", err, errNoShard)
	}
	unreserve()
	if k, release, err := l.one(ctx, "t", 2); err != nil || k > 1 {
		t.Fatalf("one after the reservation = %d, %v", k, err)
	} else {
		release(false)
	}
}
