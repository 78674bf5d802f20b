package firestore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"cloud.google.com/go/firestore"
	"go.opentelemetry.io/otel/attribute"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ticketsaga/saga/order-service/internal/app"
	"github.com/ticketsaga/saga/order-service/internal/order"
	"github.com/ticketsaga/saga/order-service/records"
	"github.com/ticketsaga/saga/shared/event"
	"github.com/ticketsaga/saga/shared/outbox"
	"github.com/ticketsaga/saga/shared/platform/telemetry"
	"github.com/ticketsaga/saga/shared/saga"
)

// Sweeping works in pages of orders, several orders of a page at a time:
// each order is its own write, independent of the others.
const (
	sweepPage     = 300
	sweepParallel = 16
	// maxSweepErrors bounds the errors a sweep keeps for its report; the
	// rest are counted.
	maxSweepErrors = 20
)

// outcome is what happened to one order of a page.
type outcome int

const (
	skipped outcome = iota
	done
	gaveUp
)

// sweepPages runs visit on every document of q (ordered, so that a cursor
// can page through it), a page at a time and several documents of a page at
// once. A failing document is recorded and skipped. Between pages it stops
// once deadline has passed. The error is for a failed query: a part of the
// sweep that could not run at all.
func sweepPages(ctx context.Context, q firestore.Query, deadline time.Time,
	visit func(ctx context.Context, snap *firestore.DocumentSnapshot) (outcome, error)) (app.SweepResult, error) {
	var (
		res  app.SweepResult
		mu   sync.Mutex
		last *firestore.DocumentSnapshot
	)
	for {
		pq := q.Limit(sweepPage)
		if last != nil {
			pq = pq.StartAfter(last)
		}
		snaps, err := pq.Documents(ctx).GetAll()
		if err != nil {
			return res, err
		}
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(sweepParallel)
		var panicked any
		for _, snap := range snaps {
			g.Go(func() error {
				// A panic (the crash switch aborting the request) is
				// raised again in the caller's goroutine, after the page.
				defer func() {
					if p := recover(); p != nil {
						mu.Lock()
						if panicked == nil {
							panicked = p
						}
						mu.Unlock()
					}
				}()
				out, err := visit(gctx, snap)
				mu.Lock()
				defer mu.Unlock()
				switch out {
				case done:
					res.Done++
				case gaveUp:
					res.GaveUp++
				}
				if err != nil {
					err = fmt.Errorf("order %s: %w", snap.Ref.ID, err)
					if out == skipped {
						res.Failed++
					}
					if len(res.Errors) < maxSweepErrors {
						res.Errors = append(res.Errors, err)
					}
				}
				return nil
			})
		}
		_ = g.Wait() // visits record their errors instead of returning them
		if panicked != nil {
			panic(panicked)
		}
		if len(snaps) < sweepPage {
			return res, nil
		}
		last = snaps[len(snaps)-1]
		if time.Now().After(deadline) {
			res.More = true
			return res, nil
		}
	}
}

// sweepBuckets runs sweepPages on the query of every bucket of orders
// (records.Buckets), beginning at a random one so that a sweep cut short by
// its deadline does not always leave the same buckets for the next.
func sweepBuckets(ctx context.Context, query func(bucket int) firestore.Query, deadline time.Time,
	visit func(ctx context.Context, snap *firestore.DocumentSnapshot) (outcome, error)) (app.SweepResult, error) {
	var res app.SweepResult
	first := rand.IntN(records.Buckets)
	for i := range records.Buckets {
		r, err := sweepPages(ctx, query((first+i)%records.Buckets), deadline, visit)
		res.Done += r.Done
		res.GaveUp += r.GaveUp
		res.Failed += r.Failed
		res.Errors = append(res.Errors, r.Errors...)
		res.Errors = res.Errors[:min(len(res.Errors), maxSweepErrors)]
		if err != nil {
			return res, err
		}
		if r.More || (time.Now().After(deadline) && i < records.Buckets-1) {
			res.More = true
			return res, nil
		}
	}
	return res, nil
}

// StopExpired runs stop on every pending order created at or before
// cutoff, in pages through any number of orders, and keeps going past an
// order that fails.
func (s *Store) StopExpired(ctx context.Context, cutoff time.Time, stop app.Stop, deadline time.Time) (app.SweepResult, error) {
	q := func(bucket int) firestore.Query {
		return s.fs.Collection(records.Orders).Where(records.FieldBucket, "==", bucket).Where(records.FieldStatus, "==", string(order.StatusPending)).
			Where(records.FieldCreatedAt, "<=", cutoff).OrderBy(records.FieldCreatedAt, firestore.Asc)
	}
	res, err := sweepBuckets(ctx, q, deadline, func(ctx context.Context, snap *firestore.DocumentSnapshot) (outcome, error) {
		stopped, err := s.stopSeen(ctx, snap, stop)
		if stopped {
			return done, err
		}
		return skipped, err
	})
	if err != nil {
		return res, fmt.Errorf("list expired orders: %w", err)
	}
	return res, nil
}

// stopSeen stops the order the sweep's query read, with one write that
// holds only if the order has not changed since the read: a settle racing
// the timeout either lands first (and the write fails, and the order is
// decided again in a transaction) or finds the order stopping (and is
// ignored).
func (s *Store) stopSeen(ctx context.Context, snap *firestore.DocumentSnapshot, stop app.Stop) (bool, error) {
	var rec records.Order
	if err := snap.DataTo(&rec); err != nil {
		return false, saga.CorruptRecord("order "+snap.Ref.ID, err)
	}
	next, msg, ok, err := stop(rec.ToDomain(snap.Ref.ID))
	if err != nil || !ok {
		return false, err
	}
	// The stop and its compensations join the order's trace, not the
	// sweep's: a child of the order's creation, stored with its event.
	started, _ := rec.Ran(app.StepStart)
	ctx, span := telemetry.StartFrom(ctx, "order-service stop order", started.Attributes, attribute.String("saga.order_id", snap.Ref.ID))
	defer span.End()
	msg.Attributes = telemetry.Inject(ctx, msg.Attributes)
	_, err = snap.Ref.Update(ctx, stopUpdates(next, msg), firestore.LastUpdateTime(snap.UpdateTime))
	if status.Code(err) == codes.FailedPrecondition {
		return s.stopInTx(ctx, snap.Ref, stop)
	}
	if err != nil {
		return false, fmt.Errorf("stop: %w", err)
	}
	return true, s.publishStop(ctx, msg)
}

// stopInTx runs stop on one order in a transaction.
func (s *Store) stopInTx(ctx context.Context, ref *firestore.DocumentRef, stop app.Stop) (bool, error) {
	var msg event.Message
	stopped := false
	err := s.fs.RunTransaction(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
		stopped = false
		snap, err := outbox.GetTx(tx, ref)
		if err != nil || !snap.Exists() {
			return err
		}
		var rec records.Order
		if err := snap.DataTo(&rec); err != nil {
			return saga.CorruptRecord("order "+ref.ID, err)
		}
		var next order.Order
		if next, msg, stopped, err = stop(rec.ToDomain(ref.ID)); err != nil || !stopped {
			return err
		}
		msg.Attributes = telemetry.Inject(ctx, msg.Attributes)
		return tx.Update(ref, stopUpdates(next, msg))
	})
	if err != nil {
		return false, fmt.Errorf("stop: %w", err)
	}
	if !stopped {
		return false, nil
	}
	return true, s.publishStop(ctx, msg)
}

// stopUpdates writes a stop: the status, the replay schedule and the
// stopped-order event in the outbox, together.
func stopUpdates(next order.Order, msg event.Message) []firestore.Update {
	return []firestore.Update{
		{Path: records.FieldStatus, Value: string(next.Status)},
		{Path: outbox.FieldUpdatedAt, Value: next.UpdatedAt},
		{Path: records.FieldStoppedAt, Value: next.Recovery.StoppedAt},
		{Path: records.FieldNextReplay, Value: next.Recovery.NextReplay},
		{Path: records.FieldReplays, Value: next.Recovery.Replays},
		{FieldPath: firestore.FieldPath{outbox.FieldSteps, app.StepStop}, Value: msg},
	}
}

// publishStop publishes a committed stopped-order. If that fails the stop
// still stands: the stopping order's replay publishes the event later.
func (s *Store) publishStop(ctx context.Context, msg event.Message) error {
	if err := s.publishCommitted(ctx, app.StepStop, msg); err != nil {
		return fmt.Errorf("stopped, publish left to the order's replay: %w", err)
	}
	return nil
}

// Heal runs heal on every unfinished order whose replay is due by now.
func (s *Store) Heal(ctx context.Context, now time.Time, heal app.Heal, deadline time.Time) (app.SweepResult, error) {
	// Only unfinished orders have next_replay: a settle deletes it.
	q := func(bucket int) firestore.Query {
		return s.fs.Collection(records.Orders).Where(records.FieldBucket, "==", bucket).Where(records.FieldNextReplay, "<=", now).
			OrderBy(records.FieldNextReplay, firestore.Asc)
	}
	res, err := sweepBuckets(ctx, q, deadline, func(ctx context.Context, snap *firestore.DocumentSnapshot) (outcome, error) {
		return s.healSeen(ctx, snap, heal)
	})
	if err != nil {
		return res, fmt.Errorf("list unfinished orders due a replay: %w", err)
	}
	return res, nil
}

func (s *Store) healSeen(ctx context.Context, snap *firestore.DocumentSnapshot, heal app.Heal) (outcome, error) {
	var rec records.Order
	if err := snap.DataTo(&rec); err != nil {
		return skipped, saga.CorruptRecord("order "+snap.Ref.ID, err)
	}
	step, err := heal(rec.ToDomain(snap.Ref.ID), rec.Steps)
	next := step.Next.Recovery
	// The precondition keeps a settle that raced the replay: the order
	// then has no replay to schedule.
	schedule := func() error {
		_, err := snap.Ref.Update(ctx, []firestore.Update{
			{Path: records.FieldNextReplay, Value: timeOrDelete(next.NextReplay)},
			{Path: records.FieldReplays, Value: next.Replays},
			{Path: records.FieldGaveUp, Value: next.GaveUp},
		}, firestore.LastUpdateTime(snap.UpdateTime))
		if status.Code(err) == codes.FailedPrecondition {
			return nil
		}
		return err
	}
	switch {
	case step.GaveUp:
		if err := schedule(); err != nil {
			return skipped, fmt.Errorf("record that replays ended: %w", err)
		}
		return gaveUp, err
	case err != nil || step.Replay == nil:
		return skipped, err
	}
	// Publish, then schedule the next replay: if the schedule is lost,
	// the order is only replayed once more.
	if err := s.steps.Publisher.Publish(ctx, *step.Replay); err != nil {
		return skipped, fmt.Errorf("replay: %w", err)
	}
	if err := schedule(); err != nil {
		return done, fmt.Errorf("schedule the next replay: %w", err)
	}
	return done, nil
}

// timeOrDelete is t as a field value, or the deletion of the field when t
// is zero.
func timeOrDelete(t time.Time) any {
	if t.IsZero() {
		return firestore.Delete
	}
	return t
}
