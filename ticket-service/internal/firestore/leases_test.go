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
		k, release, err := l.one(ctx, "t")
		if err != nil || held[k] {
			t.Fatalf("one = %d, %v (held %v)", k, err, held)
		}
		held[k] = true
		releases = append(releases, release)
	}
	// Every shard is taken: the next caller waits until one is released.
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, _, err := l.one(short, "t"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("one on a full pool = %v, want to wait", err)
	}
	got := make(chan int, 1)
	go func() {
		k, release, err := l.one(ctx, "t")
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
	if _, release, err := l.one(ctx, "other"); err != nil {
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
		if _, _, err := l.one(context.Background(), "t"); err != nil {
			t.Fatal(err)
		}
	}
}

// TestLeasesForgetIdleTicketTypes: the pools hold only the ticket types
// being granted now, not every ticket type ever sold.
func TestLeasesForgetIdleTicketTypes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := newLeases(4, true)
	for i := range 1000 {
		_, release, err := l.one(ctx, fmt.Sprint("ticket-", i))
		if err != nil {
			t.Fatal(err)
		}
		release()
	}
	releaseAll, err := l.all(ctx, "busy")
	if err != nil {
		t.Fatal(err)
	}
	if n := l.size(); n != 1 {
		t.Errorf("%d pools while one ticket type is leased, want 1", n)
	}
	releaseAll()
	if n := l.size(); n != 0 {
		t.Errorf("%d pools after every lease was released, want 0", n)
	}
}
