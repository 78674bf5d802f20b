// Package ops holds what operators do to a running saga: look at one order
// across the three services, find stuck orders, inspect and redrive dead
// letters. It reads the services' documents through the read models they
// export (their records packages), never through field names of its own.
package ops

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"cloud.google.com/go/firestore"
	"google.golang.org/api/iterator"

	"github.com/ticketsaga/saga/order-service/records"
	pointrecords "github.com/ticketsaga/saga/point-service/records"
	"github.com/ticketsaga/saga/shared/event"
	"github.com/ticketsaga/saga/shared/outbox"
	"github.com/ticketsaga/saga/shared/saga"
	ticketrecords "github.com/ticketsaga/saga/ticket-service/records"
)

// TimelineRow is one event of an order, from whichever service caused it.
type TimelineRow struct {
	At        time.Time
	Service   string
	Step      string
	EventType saga.EventType
	EventID   string
	Reason    string
}

// Timeline is one order seen from the three services.
type Timeline struct {
	OrderID     string
	Status      string
	Reason      string
	PointState  string
	TicketState string
	// TraceID is the saga's OpenTelemetry trace, "" when it was not
	// traced: find it in Cloud Trace, or in a local trace file.
	TraceID string
	Rows    []TimelineRow
}

// ErrNotFound: no service knows the order.
var ErrNotFound error = saga.E(saga.NotFound, "order_not_found", "no service knows this order")

// OrderTimeline gathers an order's events from the three services'
// outboxes.
func OrderTimeline(ctx context.Context, fs *firestore.Client, orderID string) (Timeline, error) {
	tl := Timeline{OrderID: orderID, Status: "-", PointState: "-", TicketState: "-"}
	o, err := records.Read(ctx, fs, orderID)
	if err != nil {
		return Timeline{}, err
	}
	pt, err := pointrecords.ReadSaga(ctx, fs, orderID)
	if err != nil {
		return Timeline{}, err
	}
	tk, err := ticketrecords.ReadSaga(ctx, fs, orderID)
	if err != nil {
		return Timeline{}, err
	}
	if o == nil && pt == nil && tk == nil {
		return Timeline{}, ErrNotFound
	}
	type serviceBox struct {
		service string
		box     *outbox.Outbox
	}
	var boxes []serviceBox
	if o != nil {
		tl.Status, tl.Reason, tl.TraceID = string(o.Status), o.Reason, o.TraceID
		boxes = append(boxes, serviceBox{saga.OrderService, o.Box()})
	}
	if pt != nil {
		tl.PointState = string(pt.State)
		boxes = append(boxes, serviceBox{saga.PointService, pt.Box()})
	}
	if tk != nil {
		tl.TicketState = string(tk.State)
		boxes = append(boxes, serviceBox{saga.TicketService, tk.Box()})
	}
	for _, b := range boxes {
		for step, m := range b.box.Steps {
			row := TimelineRow{Service: b.service, Step: step, EventType: m.Type, EventID: m.EventID}
			if env, err := event.Decode(m.Data); err == nil {
				for _, r := range env.Records(b.service) {
					if r.EventID == m.EventID {
						row.At, row.Reason = r.At, r.Reason
					}
				}
			}
			tl.Rows = append(tl.Rows, row)
		}
	}
	slices.SortFunc(tl.Rows, func(a, b TimelineRow) int { return a.At.Compare(b.At) })
	return tl, nil
}

// StuckOrder is an order still pending or stopping.
type StuckOrder struct {
	OrderID   string
	Status    string
	CreatedAt time.Time
	Age       time.Duration
	// Replays the timeout sweep sent to drive it to its end, and the next
	// one; GaveUp says they ended and an operator must look.
	Replays    int
	NextReplay *time.Time
	GaveUp     bool
}

// maxStuck bounds the stuck orders listed: the oldest.
const maxStuck = 1000

// Stuck lists the orders pending or stopping for longer than age, oldest
// first, at most maxStuck.
func Stuck(ctx context.Context, fs *firestore.Client, now time.Time, age time.Duration) ([]StuckOrder, error) {
	var out []StuckOrder
	for b := range records.Buckets {
		var err error
		if out, err = stuckIn(ctx, fs, b, now, age, out); err != nil {
			return nil, err
		}
	}
	slices.SortFunc(out, func(a, b StuckOrder) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return out[:min(len(out), maxStuck)], nil
}

// stuckIn adds the stuck orders of one bucket to out.
func stuckIn(ctx context.Context, fs *firestore.Client, bucket int, now time.Time, age time.Duration, out []StuckOrder) ([]StuckOrder, error) {
	it := fs.Collection(records.Orders).Where(records.FieldBucket, "==", bucket).
		Where(records.FieldStatus, "in", []records.Status{records.StatusPending, records.StatusStopping}).
		Where(records.FieldCreatedAt, "<=", now.Add(-age)).OrderBy(records.FieldCreatedAt, firestore.Asc).Limit(maxStuck).Documents(ctx)
	defer it.Stop()
	for {
		snap, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("list stuck orders: %w", err)
		}
		var o records.Order
		if err := snap.DataTo(&o); err != nil {
			// Listed, not fatal: an operator needs to see it most.
			out = append(out, StuckOrder{OrderID: snap.Ref.ID, Status: "unreadable: " + err.Error()})
			continue
		}
		out = append(out, StuckOrder{OrderID: snap.Ref.ID, Status: string(o.Status), CreatedAt: o.CreatedAt, Age: now.Sub(o.CreatedAt),
			Replays: o.Replays, NextReplay: o.NextReplay, GaveUp: o.GaveUp})
	}
	return out, nil
}
