// Package ops holds what operators do to a running saga: look at one order
// across the three services, find stuck orders, inspect and redrive dead
// letters, and reconcile. It reads the services' documents as stored; it
// is the one place outside a service that knows their shape.
package ops

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"cloud.google.com/go/firestore"
	"google.golang.org/api/iterator"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ticketsaga/saga/shared/event"
	"github.com/ticketsaga/saga/shared/outbox"
)

// Collections of the services, as they store them.
const (
	Orders      = "orders"
	PointSagas  = "point_sagas"
	TicketSagas = "ticket_sagas"
	Runs        = "reconcile_runs"
)

// sagaDoc is the part of any saga document ops reads.
type sagaDoc struct {
	Status    string                   `firestore:"status"` // orders
	State     string                   `firestore:"state"`  // point and ticket sagas
	Reason    string                   `firestore:"reason"`
	UserID    string                   `firestore:"user_id"`
	CreatedAt time.Time                `firestore:"created_at"`
	UpdatedAt time.Time                `firestore:"updated_at"`
	Steps     map[string]event.Message `firestore:"steps"`
	Pending   []string                 `firestore:"outbox_pending"`
	// The timeout sweep's self-healing of a stopping order.
	Replays    int        `firestore:"replays"`
	GaveUp     bool       `firestore:"gave_up"`
	NextReplay *time.Time `firestore:"next_replay"`
}

// errUndecodable marks a stored document that cannot be read.
var errUndecodable = errors.New("undecodable document")

func getSaga(ctx context.Context, fs *firestore.Client, coll, id string) (*sagaDoc, error) {
	snap, err := fs.Collection(coll).Doc(id).Get(ctx)
	if status.Code(err) == codes.NotFound {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s/%s: %w", coll, id, err)
	}
	var d sagaDoc
	if err := snap.DataTo(&d); err != nil {
		return nil, fmt.Errorf("%w %s/%s: %v", errUndecodable, coll, id, err)
	}
	return &d, nil
}

// TimelineRow is one event of an order, from whichever service caused it.
type TimelineRow struct {
	At        time.Time
	Service   string
	Step      string
	EventType event.Type
	EventID   string
	Reason    string
	Published bool
}

// Timeline is one order seen from the three services.
type Timeline struct {
	OrderID     string
	Status      string
	Reason      string
	PointState  string
	TicketState string
	Rows        []TimelineRow
}

// ErrNotFound: no such order.
var ErrNotFound = errors.New("order not found")

// OrderTimeline gathers an order's events from the three services' outboxes.
func OrderTimeline(ctx context.Context, fs *firestore.Client, orderID string) (Timeline, error) {
	tl := Timeline{OrderID: orderID}
	found := false
	for _, src := range []struct {
		coll, service string
		state         *string
	}{{Orders, event.OrderService, &tl.Status}, {PointSagas, event.PointService, &tl.PointState}, {TicketSagas, event.TicketService, &tl.TicketState}} {
		d, err := getSaga(ctx, fs, src.coll, orderID)
		if err != nil {
			return Timeline{}, err
		}
		if d == nil {
			*src.state = "-"
			continue
		}
		found = true
		*src.state = d.State
		if src.coll == Orders {
			*src.state, tl.Reason = d.Status, d.Reason
		}
		for step, m := range d.Steps {
			row := TimelineRow{Service: src.service, Step: step, EventType: m.Type, EventID: m.EventID, Published: !slices.Contains(d.Pending, step)}
			if env, err := event.Decode(m.Data); err == nil {
				for _, r := range env.Records(src.service) {
					if r.EventID == m.EventID {
						row.At, row.Reason = r.At, r.Reason
					}
				}
			}
			tl.Rows = append(tl.Rows, row)
		}
	}
	if !found {
		return Timeline{}, ErrNotFound
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

// Stuck lists orders pending or stopping for longer than age.
func Stuck(ctx context.Context, fs *firestore.Client, now time.Time, age time.Duration) ([]StuckOrder, error) {
	it := fs.Collection(Orders).Where("status", "in", []string{"pending", "stopping"}).
		Where("created_at", "<=", now.Add(-age)).Limit(1000).Documents(ctx)
	defer it.Stop()
	var out []StuckOrder
	for {
		snap, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("list stuck orders: %w", err)
		}
		var d sagaDoc
		if err := snap.DataTo(&d); err != nil {
			// Listed, not fatal: an operator needs to see it most.
			out = append(out, StuckOrder{OrderID: snap.Ref.ID, Status: "unreadable: " + err.Error()})
			continue
		}
		out = append(out, StuckOrder{OrderID: snap.Ref.ID, Status: d.Status, CreatedAt: d.CreatedAt, Age: now.Sub(d.CreatedAt),
			Replays: d.Replays, NextReplay: d.NextReplay, GaveUp: d.GaveUp})
	}
	slices.SortFunc(out, func(a, b StuckOrder) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return out, nil
}

// publisher is what ops needs of outbox.Publisher.
type publisher interface {
	Publish(ctx context.Context, m event.Message) error
}

var _ publisher = (*outbox.Publisher)(nil)
