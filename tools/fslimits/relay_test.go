package fslimits

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/ticketsaga/saga/shared/platform/metrics"
)

// through returns a Firestore client of a fresh project that talks to the
// emulator through a relay with limits.
func through(t *testing.T, limits Limits) (*firestore.Client, *Relay) {
	t.Helper()
	if testing.Short() {
		t.Skip("a relay in front of the Firestore emulator: make test's integration phase runs it")
	}
	emu := os.Getenv("FIRESTORE_EMULATOR_HOST")
	if emu == "" {
		t.Fatal("FIRESTORE_EMULATOR_HOST is not set: run make test, which starts the emulators")
	}
	r, err := Start("127.0.0.1:0", emu, NewRules(testDecl), limits)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Stop)
	opts, err := metrics.FirestoreOptions(r.Addr())
	if err != nil {
		t.Fatal(err)
	}
	fs, err := firestore.NewClient(context.Background(), fmt.Sprintf("fslimits-%d", time.Now().UnixNano()), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fs.Close() })
	// The first call opens the connection: out of the timings.
	if _, err := fs.Collection("warm").Doc("up").Set(context.Background(), map[string]any{"n": 1}); err != nil {
		t.Fatal(err)
	}
	return fs, r
}

// TestDocumentBudget: a document in a budgeted collection takes one write
// per interval after a second's burst; writes queue behind each other, and a burst beyond a
// second's wait is aborted as contention, which the client's transactions
// run again. Other collections and documents are free.
func TestDocumentBudget(t *testing.T) {
	t.Parallel()
	fs, r := through(t, Limits{DocWritesPerSecond: 4, DocCollections: []string{"stock_shards"}})
	ctx := context.Background()
	shard := fs.Collection("stock_shards").Doc("a")
	start := time.Now()
	if _, err := shard.Set(ctx, map[string]any{"stock": 100}); err != nil {
		t.Fatal(err)
	}
	for range 7 {
		if err := fs.RunTransaction(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
			return tx.Update(shard, []firestore.Update{{Path: "stock", Value: firestore.Increment(-1)}})
		}); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d < 900*time.Millisecond {
		t.Errorf("8 writes to one document at 4/s (a second's burst of 4) took %s, want at least 1 s", d)
	}
	if s := r.Stats(); s.DocDelayed < 3 {
		t.Errorf("stats %+v: want the writes delayed", s)
	}
	// Another collection is not budgeted.
	start = time.Now()
	for i := range 8 {
		if _, err := fs.Collection("accounts").Doc("u").Set(ctx, map[string]any{"balance": i}); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d > 800*time.Millisecond {
		t.Errorf("8 writes outside the budgeted collections took %s", d)
	}
	// A burst: the waits pass a second, some commits are aborted, and
	// the transactions run again until each is done.
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- fs.RunTransaction(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
				return tx.Update(shard, []firestore.Update{{Path: "stock", Value: firestore.Increment(-1)}})
			}, firestore.MaxAttempts(20))
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("a transaction of the burst: %v", err)
		}
	}
	snap, err := shard.Get(ctx)
	if err != nil || snap.Data()["stock"] != int64(85) {
		t.Fatalf("stock after 15 decrements: %v, %v", snap.Data(), err)
	}
	if s := r.Stats(); s.DocAborted == 0 {
		t.Errorf("stats %+v: the burst was never aborted", s)
	}
}

// TestRangeBudget: new documents with an indexed time share one range and
// queue; exempting the field, or a bucket in front of it, spreads them;
// the relay records which fields grow with time.
func TestRangeBudget(t *testing.T) {
	t.Parallel()
	fs, r := through(t, Limits{RangeWritesPerSecond: 2})
	ctx := context.Background()
	now := time.Now()
	// updated_at is indexed alone (not exempted): one range, which takes
	// 2 writes a second, at most 2 in one second.
	start := time.Now()
	for i := range 5 {
		if _, err := fs.Collection("orders").Doc(fmt.Sprintf("u%d", i)).Set(ctx, map[string]any{"updated_at": now}); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d < 900*time.Millisecond {
		t.Errorf("5 new entries in one time-ordered range at 2/s took %s, want at least 1 s", d)
	}
	// created_at is exempted, and leads no composite index but behind
	// the bucket: one range per bucket and status.
	start = time.Now()
	for i := range 8 {
		if _, err := fs.Collection("orders").Doc(fmt.Sprintf("c%d", i)).Set(ctx, map[string]any{"bucket": i, "status": "pending", "created_at": now}); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d > 800*time.Millisecond {
		t.Errorf("8 entries over 8 buckets took %s", d)
	}
	if s := r.Stats(); s.RangeDelayed < 2 || s.DocDelayed != 0 {
		t.Errorf("stats %+v", s)
	}
	w := r.Written()["orders"]
	if !w["created_at"] || !w["updated_at"] || w["status"] || w["bucket"] {
		t.Errorf("written fields of orders: %v", w)
	}
}
