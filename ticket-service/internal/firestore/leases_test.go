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
	l := newLeases(3, true)
	held := map[int]bool{}
	var releases []func()
	for range 3 {
		k, release, err := l.one(ctx, "t", 3)
		if err != nil || held[k] {
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
			release()
		}
		got <- k
	}()
	releases[1]()
	select {
	case <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("a released shard was not handed on")
	}
	// all waits for every shard; another ticket type is independent.
	if _, release, err := l.one(ctx, "other", 3); err != nil {
		t.Fatal(err)
	} else {
		release()
	}
	done := make(chan struct{})
	go func() {
		release, err := l.all(ctx, "t")
		if err == nil {
			release()
		}
		close(done)
	}()
	releases[0]()
	releases[2]()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("all never got every shard")
	}
}

func TestLeasesOffNeverWait(t *testing.T) {
	t.Parallel()
	l := newLeases(1, false)
	for range 3 {
		if _, _, err := l.one(context.Background(), "t", 1); err != nil {
			t.Fatal(err)
		}
	}
}

// TestLeasesForgetIdleTicketTypes: the pools hold only the ticket types
// being granted about now, not every ticket type ever sold.
func TestLeasesForgetIdleTicketTypes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := newLeases(4, true)
	now := time.Unix(1000, 0)
	l.now = func() time.Time { return now }
	for i := range 1000 {
		_, release, err := l.one(ctx, fmt.Sprint("ticket-", i), 4)
		if err != nil {
			t.Fatal(err)
		}
		release()
	}
	now = now.Add(2 * poolMemory)
	releaseAll, err := l.all(ctx, "busy")
	if err != nil {
		t.Fatal(err)
	}
	if n := l.size(); n != 1 {
		t.Errorf("%d pools while one ticket type is leased, want 1", n)
	}
	releaseAll()
	now = now.Add(2 * poolMemory)
	if _, release, err := l.one(ctx, "next", 4); err != nil {
		t.Fatal(err)
	} else {
		release()
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
	l := newLeases(4, true)
	var order []int
	for range 8 { // one grant at a time: round robin over the 4 shards
		k, release, err := l.one(ctx, "t", 4)
		if err != nil {
			t.Fatal(err)
		}
		order = append(order, k)
		release()
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

// A ticket type with fewer shards than the pool leases only its own.
func TestLeasesOnlyTheTicketsShards(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := newLeases(8, true)
	var releases []func()
	for range 2 {
		k, release, err := l.one(ctx, "t", 2)
		if err != nil || k >= 2 {
			t.Fatalf("one of 2 shards = %d, %v", k, err)
		}
		releases = append(releases, release)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if k, _, err := l.one(short, "t", 2); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("both of its shards leased: got %d, %v, want to wait", k, err)
	}
	for _, r := range releases {
		r()
	}
}
