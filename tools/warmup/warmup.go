// Package warmup brings the key ranges an on-sale will write up to its rate
// before it opens, by the rule Firestore's best practices give for new
// traffic: start at 500 operations per second and grow by 50% every 5
// minutes ("500/50/5"). A flash sale cannot ramp: it starts at its peak. A
// ticket type put up for it is thousands of shard documents no traffic has
// touched, and the collections its orders create documents in may be as
// cold; Firestore splits key ranges as their load grows, and traffic that
// grows faster than that meets higher latency and contention errors
// (docs/capacity.md, Sources). `sagactl warm` runs this before the sale.
//
// Every operation changes nothing the saga reads: a shard gets a field of
// its own (its stock is untouched), and a collection gets a document at a
// random id, deleted again a few operations later, so that the writes land
// where the sale's documents will, all over the key range.
package warmup

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"cloud.google.com/go/firestore"

	ticketrecords "github.com/ticketsaga/saga/ticket-service/records"
)

// Rule is a ramp: Base operations per second at first, times Growth every
// Step.
type Rule struct {
	Base   float64
	Growth float64
	Step   time.Duration
}

// Firestore is the documented rule, 500/50/5.
var Firestore = Rule{Base: 500, Growth: 1.5, Step: 5 * time.Minute}

// Schedule is the rate of each step up to target: Base × Growth^i, until
// the step that reaches target, which runs at target.
func (r Rule) Schedule(target float64) []float64 {
	var out []float64
	for rate := r.Base; ; rate *= r.Growth {
		if rate >= target {
			return append(out, target)
		}
		out = append(out, rate)
	}
}

// Target is one key range to warm: the rate the sale will put on it, and
// one operation (the i-th).
type Target struct {
	Name string
	Rate float64
	Op   func(ctx context.Context, i int64) error
}

// Step is what one step of one target did.
type Step struct {
	Target  string
	Index   int
	Rate    float64 // asked for
	Ops     int64   // done
	Errors  int64
	Elapsed time.Duration
}

// Achieved is the operations per second the step did.
func (s Step) Achieved() float64 { return float64(s.Ops) / s.Elapsed.Seconds() }

func (s Step) String() string {
	return fmt.Sprintf("%s: step %d at %.0f/s for %s: %d operations (%.0f/s), %d errors", s.Target, s.Index+1, s.Rate,
		s.Elapsed.Round(time.Millisecond), s.Ops, s.Achieved(), s.Errors)
}

// workers bounds the operations in flight for one target.
const workers = 256

// Run warms every target at once, step by step by rule, and reports each
// step as it ends. It returns every step, or ctx's error.
func Run(ctx context.Context, rule Rule, targets []Target, progress func(Step)) ([]Step, error) {
	var (
		mu    sync.Mutex
		steps []Step
		wg    sync.WaitGroup
	)
	for _, t := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var n int64
			for i, rate := range rule.Schedule(t.Rate) {
				s := runStep(ctx, t, i, rate, rule.Step, &n)
				mu.Lock()
				steps = append(steps, s)
				if progress != nil {
					progress(s)
				}
				mu.Unlock()
				if ctx.Err() != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
	return steps, ctx.Err()
}

// runStep runs t's operation at rate for d: the i-th operation starts at
// the step's start + i/rate, on one of the workers.
func runStep(ctx context.Context, t Target, index int, rate float64, d time.Duration, n *int64) Step {
	var ops, errs atomic.Int64
	jobs := make(chan int64)
	var wg sync.WaitGroup
	for range min(workers, int(math.Ceil(rate))+1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				if err := t.Op(ctx, i); err != nil {
					errs.Add(1)
				} else {
					ops.Add(1)
				}
			}
		}()
	}
	start := time.Now()
	total := int64(rate * d.Seconds())
	for k := int64(0); k < total && ctx.Err() == nil; k++ {
		if wait := time.Until(start.Add(time.Duration(float64(k) / rate * float64(time.Second)))); wait > 0 {
			select {
			case <-time.After(wait):
			case <-ctx.Done():
			}
		}
		select {
		case jobs <- *n:
			*n++
		case <-ctx.Done():
		}
	}
	close(jobs)
	wg.Wait()
	if rest := time.Until(start.Add(d)); rest > 0 && ctx.Err() == nil {
		time.Sleep(rest)
	}
	return Step{Target: t.Name, Index: index, Rate: rate, Ops: ops.Load(), Errors: errs.Load(), Elapsed: time.Since(start)}
}

// Sale is what an on-sale will put on Firestore: a ticket type of Shards
// shards sold at Rate orders per second.
type Sale struct {
	TicketID string
	Shards   int
	Rate     float64
}

// Targets are the key ranges a sale writes, at the operations per second
// it puts on each (one order: a grant on a shard; the order's create,
// settle and read; the point and ticket sagas' step and read; the
// account's read and write: docs/capacity.md).
func (s Sale) Targets(fs *firestore.Client) []Target {
	out := []Target{{Name: "stock shards of " + s.TicketID, Rate: s.Rate, Op: func(ctx context.Context, i int64) error {
		k := int(i % int64(s.Shards))
		_, err := fs.Collection(ticketrecords.Shards).Doc(ticketrecords.ShardID(s.TicketID, k)).
			Update(ctx, []firestore.Update{{Path: "warmed", Value: i}})
		return err
	}}}
	for _, c := range []struct {
		name string
		per  float64
	}{{"orders", 3}, {"point_sagas", 2}, {"ticket_sagas", 2}, {"accounts", 2}} {
		out = append(out, Target{Name: c.name, Rate: c.per * s.Rate, Op: collectionOp(fs, c.name)})
	}
	return out
}

// behind is how many documents a collection's warm-up keeps before it
// deletes the oldest.
const behind = 64

// collectionOp is one Firestore operation at a time, as the rule counts
// them: the even ones create a document at a random id in collection, the
// odd ones delete the one created behind creates earlier.
func collectionOp(fs *firestore.Client, collection string) func(ctx context.Context, i int64) error {
	var (
		mu  sync.Mutex
		ids [behind]string
	)
	return func(ctx context.Context, i int64) error {
		slot := (i / 2) % behind
		if i%2 == 1 {
			mu.Lock()
			old := ids[(slot+1)%behind]
			ids[(slot+1)%behind] = ""
			mu.Unlock()
			if old == "" {
				return nil
			}
			_, err := fs.Collection(collection).Doc(old).Delete(ctx)
			return err
		}
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		id := hex.EncodeToString(b)
		if _, err := fs.Collection(collection).Doc(id).Create(ctx, map[string]any{"warmup": strconv.FormatInt(i, 10)}); err != nil {
			return err
		}
		mu.Lock()
		ids[slot] = id
		mu.Unlock()
		return nil
	}
}

// Clean deletes the warm-up documents the operations left in collections
// (about behind each): call it once the warm-up is over.
func Clean(ctx context.Context, fs *firestore.Client, collections []string) error {
	for _, c := range collections {
		for {
			snaps, err := fs.Collection(c).Where("warmup", "!=", "").Limit(500).Documents(ctx).GetAll()
			if err != nil {
				return fmt.Errorf("find the warm-up documents of %s: %w", c, err)
			}
			if len(snaps) == 0 {
				break
			}
			for _, s := range snaps {
				if _, err := s.Ref.Delete(ctx); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
