// Package firestore is order-service's storage adapter. The order document
// (records.Order) is also order-service's saga document: it holds the
// started-order and stopped-order events in its outbox, and its snapshots
// drive the long-poll.
package firestore

import (
	"context"
	"fmt"

	"cloud.google.com/go/firestore"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ticketsaga/saga/order-service/internal/app"
	"github.com/ticketsaga/saga/order-service/internal/longpoll"
	"github.com/ticketsaga/saga/order-service/internal/order"
	"github.com/ticketsaga/saga/order-service/records"
	"github.com/ticketsaga/saga/shared/event"
	"github.com/ticketsaga/saga/shared/outbox"
	"github.com/ticketsaga/saga/shared/platform/telemetry"
	"github.com/ticketsaga/saga/shared/saga"
)

// Store reads and writes orders.
type Store struct {
	fs    *firestore.Client
	steps *outbox.Steps // on records.Orders
}

var _ app.Store = (*Store)(nil)

// New returns a Store publishing through steps.
func New(fs *firestore.Client, steps *outbox.Steps) *Store {
	return &Store{fs: fs, steps: steps}
}

func (s *Store) ref(id string) *firestore.DocumentRef { return s.fs.Collection(records.Orders).Doc(id) }

func notFound(id string) error { return saga.E(saga.NotFound, "order_not_found", "no order %s", id) }

// Create stores o with its started-order event (see app.Store).
func (s *Store) Create(ctx context.Context, o order.Order, fingerprint string, start event.Message) (app.Placed, error) {
	ctx, span := telemetry.Start(ctx, "order-service create order", trace.WithAttributes(attribute.String("saga.order_id", o.ID)))
	defer span.End()
	ref := s.ref(o.ID)
	var rec records.Order
	rec.FromDomain(o)
	rec.Fingerprint = fingerprint
	// The saga's trace starts here: kept on the order, and stored with its
	// started-order so that every later publish of it joins the trace.
	rec.TraceID = telemetry.TraceID(ctx)
	start.Attributes = telemetry.Inject(ctx, start.Attributes)
	rec.Record(app.StepStart, start, o.UpdatedAt)
	// Create is atomic on its own (it fails if the document exists), so a
	// new order costs one write and no transaction.
	_, err := ref.Create(ctx, &rec)
	switch {
	case status.Code(err) == codes.AlreadyExists:
		snap, err := ref.Get(ctx)
		if err != nil {
			return app.Placed{}, fmt.Errorf("read order %s: %w", o.ID, err)
		}
		var have records.Order
		if err := snap.DataTo(&have); err != nil {
			return app.Placed{}, saga.CorruptRecord("order "+o.ID, err)
		}
		placed := app.Placed{Order: have.ToDomain(o.ID), Fingerprint: have.Fingerprint}
		if stored, ok := have.Ran(app.StepStart); ok {
			placed.Start = &stored
		}
		return placed, nil
	case err != nil:
		return app.Placed{}, fmt.Errorf("create order %s: %w", o.ID, err)
	}
	return app.Placed{Order: o, Created: true}, s.publishCommitted(ctx, app.StepStart, start)
}

// publishCommitted publishes m, the event step has just committed.
func (s *Store) publishCommitted(ctx context.Context, step string, m event.Message) error {
	s.steps.Committed(step)
	return s.steps.Publisher.Publish(ctx, m)
}

// Publish publishes m, an event stored earlier, again.
func (s *Store) Publish(ctx context.Context, m event.Message) error {
	return s.steps.Publisher.Publish(ctx, m)
}

// Get returns an order, or a saga.NotFound error.
func (s *Store) Get(ctx context.Context, id string) (order.Order, error) {
	rec, err := records.Read(ctx, s.fs, id)
	if err != nil {
		return order.Order{}, err
	}
	if rec == nil {
		return order.Order{}, notFound(id)
	}
	return rec.ToDomain(id), nil
}

// Update runs change on order id in a transaction (see app.Store).
func (s *Store) Update(ctx context.Context, id string, change func(order.Order) (order.Order, bool, error)) (order.Order, bool, error) {
	ref := s.ref(id)
	var (
		out     order.Order
		changed bool
	)
	ctx, span := telemetry.Start(ctx, "firestore transaction", trace.WithAttributes(attribute.String("db.collection.name", records.Orders)))
	err := s.fs.RunTransaction(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
		snap, err := outbox.GetTx(tx, ref)
		if err != nil {
			return err
		}
		if !snap.Exists() {
			return notFound(id)
		}
		var rec records.Order
		if err := snap.DataTo(&rec); err != nil {
			return saga.CorruptRecord("order "+id, err)
		}
		if out, changed, err = change(rec.ToDomain(id)); err != nil || !changed {
			return err
		}
		rec.FromDomain(out)
		return tx.Set(ref, &rec)
	})
	telemetry.End(span, err)
	if err != nil {
		return order.Order{}, false, err
	}
	return out, changed, nil
}

// Listen is the long-poll's listener: a snapshot listener on the order
// document, which sees a settle by any instance the moment it commits.
func (s *Store) Listen(ctx context.Context, id string) (<-chan longpoll.Update, func()) {
	it := s.ref(id).Snapshots(ctx)
	updates := make(chan longpoll.Update)
	go func() {
		defer close(updates)
		for {
			var u longpoll.Update
			snap, err := it.Next()
			switch {
			case err != nil && ctx.Err() != nil:
				return // the wait is over
			case err != nil:
				u.Err = err
			case !snap.Exists():
				u.Err = notFound(id)
			default:
				var rec records.Order
				if err := snap.DataTo(&rec); err != nil {
					u.Err = saga.CorruptRecord("order "+id, err)
				} else {
					u.Order = rec.ToDomain(id)
				}
			}
			select {
			case updates <- u:
			case <-ctx.Done():
				return
			}
			if u.Err != nil || u.Order.Status.Terminal() {
				return
			}
		}
	}()
	return updates, it.Stop
}
