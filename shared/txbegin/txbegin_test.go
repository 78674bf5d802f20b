package txbegin_test

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	"cloud.google.com/go/firestore"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ticketsaga/saga/shared/emutest"
	"github.com/ticketsaga/saga/shared/metrics"
	"github.com/ticketsaga/saga/shared/txbegin"
)

// calls counts the calls that reach the emulator, by method.
type calls struct {
	mu sync.Mutex
	by map[string]int
}

func (c *calls) add(method string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.by[method[strings.LastIndexByte(method, '/')+1:]]++
}

func (c *calls) get(name string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.by[name]
}

// client is a Firestore client on the emulator with the interceptors, and
// a count of what reaches the emulator under them.
func client(t *testing.T) (*firestore.Client, *calls) {
	t.Helper()
	p := emutest.New(t) // a fresh project, and the emulator check
	c := &calls{by: map[string]int{}}
	opts, err := metrics.FirestoreOptions(os.Getenv("FIRESTORE_EMULATOR_HOST"), append(txbegin.New().DialOptions(),
		grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			c.add(method)
			return invoker(ctx, method, req, reply, cc, opts...)
		}),
		grpc.WithChainStreamInterceptor(func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
			c.add(method)
			return streamer(ctx, desc, cc, method, opts...)
		}))...)
	if err != nil {
		t.Fatal(err)
	}
	fs, err := firestore.NewClient(context.Background(), p.ID, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fs.Close() })
	return fs, c
}

// TestConcurrentIncrements: transactions that contend for one document
// stay serializable (each increment counted once, the aborted ones
// retried) and none makes a BeginTransaction call.
func TestConcurrentIncrements(t *testing.T) {
	fs, c := client(t)
	ctx := context.Background()
	doc := fs.Collection("counters").Doc("c")
	if _, err := doc.Set(ctx, map[string]any{"n": 0}); err != nil {
		t.Fatal(err)
	}
	const workers, each = 4, 5
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				errs <- fs.RunTransaction(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
					snap, err := tx.Get(doc)
					if err != nil {
						return err
					}
					n, err := snap.DataAt("n")
					if err != nil {
						return err
					}
					return tx.Set(doc, map[string]any{"n": n.(int64) + 1})
				})
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("a transaction failed: %v", err)
		}
	}
	snap, err := doc.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := snap.DataAt("n"); n != int64(workers*each) {
		t.Fatalf("n = %v after %d increments", n, workers*each)
	}
	if got := c.get("BeginTransaction"); got != 0 {
		t.Errorf("%d BeginTransaction calls reached the emulator, want 0", got)
	}
	if got := c.get("Commit"); got < workers*each {
		t.Errorf("%d commits for %d increments", got, workers*each)
	}
	t.Logf("calls that reached the emulator: %v", c.by)
}

// TestWithoutReads: a transaction that reads nothing still commits its
// writes atomically, with their preconditions; one whose function fails
// writes nothing.
func TestWithoutReads(t *testing.T) {
	fs, c := client(t)
	ctx := context.Background()
	a, b := fs.Collection("docs").Doc("a"), fs.Collection("docs").Doc("b")
	create := func(ctx context.Context, tx *firestore.Transaction) error {
		if err := tx.Create(a, map[string]any{"v": 1}); err != nil {
			return err
		}
		return tx.Create(b, map[string]any{"v": 1})
	}
	if err := fs.RunTransaction(ctx, create); err != nil {
		t.Fatal(err)
	}
	if err := fs.RunTransaction(ctx, create); status.Code(err) != codes.AlreadyExists {
		t.Fatalf("creating the documents again: %v, want AlreadyExists", err)
	}
	boom := errors.New("boom")
	err := fs.RunTransaction(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
		if _, err := tx.Get(a); err != nil {
			return err
		}
		if err := tx.Set(a, map[string]any{"v": 2}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("the failing transaction: %v", err)
	}
	snap, err := a.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := snap.DataAt("v"); v != int64(1) {
		t.Fatalf("v = %v after a transaction that failed, want 1", v)
	}
	// The create that failed (it began at its commit) and the one that read.
	if got := c.get("Rollback"); got != 2 {
		t.Errorf("%d rollbacks reached the emulator, want 2", got)
	}
	// The two that only wrote began at their commit, so that a retried
	// commit is still applied once; the one that read began with its read.
	if got := c.get("BeginTransaction"); got != 2 {
		t.Errorf("%d BeginTransaction calls, want 2", got)
	}
}

// TestFailedFirstRead: when the read that begins a transaction fails, the
// attempt ends; its writes never go out without the transaction, even
// when the function goes on after the error.
func TestFailedFirstRead(t *testing.T) {
	fs, c := client(t)
	ctx := context.Background()
	bad := fs.Collection("docs").Doc("__reserved__") // an id the emulator refuses
	out := fs.Collection("docs").Doc("written")
	attempts := 0
	err := fs.RunTransaction(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
		attempts++
		_, _ = tx.Get(bad) // the error ignored, as a careless step might
		return tx.Set(out, map[string]any{"v": 1})
	}, firestore.MaxAttempts(2))
	if status.Code(err) != codes.Aborted {
		t.Fatalf("RunTransaction: %v, want ABORTED", err)
	}
	if attempts != 2 {
		t.Errorf("%d attempts: the client did not run the lost attempt again", attempts)
	}
	if _, err := out.Get(ctx); status.Code(err) != codes.NotFound {
		t.Fatalf("the write of a transaction whose first read failed: %v, want NotFound", err)
	}
	if got := c.get("Commit"); got != 0 {
		t.Errorf("%d commits reached the emulator, want 0", got)
	}
}

// TestConcurrentReads: reads of one transaction that overlap: one begins
// it, the others wait for its id.
func TestConcurrentReads(t *testing.T) {
	fs, c := client(t)
	ctx := context.Background()
	col := fs.Collection("many")
	const n = 6
	for i := range n {
		if _, err := col.Doc(strconv.Itoa(i)).Set(ctx, map[string]any{"v": i}); err != nil {
			t.Fatal(err)
		}
	}
	err := fs.RunTransaction(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
		var wg sync.WaitGroup
		sums := make(chan int64, n)
		errs := make(chan error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				snap, err := tx.Get(col.Doc(strconv.Itoa(i)))
				if err != nil {
					errs <- err
					return
				}
				v, _ := snap.DataAt("v")
				sums <- v.(int64)
			}()
		}
		wg.Wait()
		close(errs)
		close(sums)
		if err := <-errs; err != nil {
			return err
		}
		var sum int64
		for v := range sums {
			sum += v
		}
		return tx.Set(col.Doc("sum"), map[string]any{"v": sum})
	})
	if err != nil {
		t.Fatal(err)
	}
	snap, err := col.Doc("sum").Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := snap.DataAt("v"); v != int64(n*(n-1)/2) {
		t.Fatalf("sum %v, want %d", v, n*(n-1)/2)
	}
	if got := c.get("BeginTransaction"); got != 0 {
		t.Errorf("%d BeginTransaction calls, want 0", got)
	}
}

// TestQueryBeginsTransaction: a query can be a transaction's first read.
func TestQueryBeginsTransaction(t *testing.T) {
	fs, _ := client(t)
	ctx := context.Background()
	col := fs.Collection("items")
	for _, id := range []string{"x", "y"} {
		if _, err := col.Doc(id).Set(ctx, map[string]any{"k": 1}); err != nil {
			t.Fatal(err)
		}
	}
	err := fs.RunTransaction(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
		docs, err := tx.Documents(col.Where("k", "==", 1)).GetAll()
		if err != nil {
			return err
		}
		if len(docs) != 2 {
			return errors.New("want 2 documents")
		}
		snap, err := tx.Get(col.Doc("x"))
		if err != nil {
			return err
		}
		return tx.Update(snap.Ref, []firestore.Update{{Path: "k", Value: 2}})
	})
	if err != nil {
		t.Fatal(err)
	}
	snap, err := col.Doc("x").Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if k, _ := snap.DataAt("k"); k != int64(2) {
		t.Fatalf("k = %v, want 2", k)
	}
}
