// Package records is order-service's documents in Firestore: the order
// type its store writes, exported as a read model, so that the operator's
// tools read orders as typed values, not through field names of their own.
package records

import (
	"context"
	"hash/fnv"
	"slices"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/ticketsaga/saga/order-service/internal/order"
	"github.com/ticketsaga/saga/shared/outbox"
	"github.com/ticketsaga/saga/shared/saga"
)

// Orders is the collection of orders, one document per order: Order. The
// order document is also order-service's saga document.
const Orders = "orders"

// Buckets is how many key ranges the time-ordered indexes of orders are
// split over. An index on a time (created_at, updated_at, next_replay)
// puts each new entry at the end of one range, which takes about 500
// writes per second; every such index of orders begins with the order's
// bucket instead, so each bucket's entries are a range of their own and
// the collection takes Buckets × 500. At 1,667 orders per second (a
// 100,000-ticket sale in a minute), with up to three index writes per
// order in one range, 16 buckets keep each range near 300 writes per
// second (docs/capacity.md). A query on a time runs once per bucket.
// Changing it needs every order's bucket rewritten.
const Buckets = 16

// BucketOf is the bucket of order id: a hash of the id, so orders spread
// evenly.
func BucketOf(id string) int {
	h := fnv.New32a()
	h.Write([]byte(id))
	return int(h.Sum32() % Buckets)
}

// Step names: the keys of an Order's outbox.
const (
	StepStart = order.StepStart // started-order
	StepStop  = order.StepStop  // stopped-order
)

// Status of an order.
type Status = order.Status

// Statuses of an Order.
const (
	StatusPending   = order.StatusPending
	StatusStopping  = order.StatusStopping
	StatusCompleted = order.StatusCompleted
	StatusFailed    = order.StatusFailed
	StatusCancelled = order.StatusCancelled
)

// Entry is one line of an order's timeline.
type Entry struct {
	EventType saga.EventType `firestore:"event_type"`
	Service   string         `firestore:"service"`
	At        time.Time      `firestore:"at"`
}

// Order is an order as stored. Its UpdatedAt (the outbox's) is when it
// last changed: when it settled, once it is terminal.
type Order struct {
	outbox.Outbox
	// Bucket is BucketOf the order's id, for the queries on a time.
	Bucket      int       `firestore:"bucket"`
	UserID      string    `firestore:"user_id"`
	TicketID    string    `firestore:"ticket_id"`
	Quantity    int64     `firestore:"quantity"`
	Price       int64     `firestore:"price"`
	Status      Status    `firestore:"status"`
	Reason      string    `firestore:"reason"`
	CreatedAt   time.Time `firestore:"created_at"`
	History     []Entry   `firestore:"history"`
	Fingerprint string    `firestore:"fingerprint"`
	// TraceID is the OpenTelemetry trace of the saga, when it was traced:
	// what an operator looks the order up by in Cloud Trace.
	TraceID string `firestore:"trace_id,omitempty"`

	// Self-healing of an unfinished order (order.Recovery). NextReplay is
	// absent once the order ended, so the sweep's query on it finds only
	// unfinished orders.
	StoppedAt  *time.Time `firestore:"stopped_at,omitempty"`
	NextReplay *time.Time `firestore:"next_replay,omitempty"`
	Replays    int        `firestore:"replays,omitempty"`
	GaveUp     bool       `firestore:"gave_up,omitempty"`
}

// Fields of Order that queries and conditional updates name.
const (
	FieldBucket     = "bucket"
	FieldStatus     = "status"
	FieldCreatedAt  = "created_at"
	FieldStoppedAt  = "stopped_at"
	FieldNextReplay = "next_replay"
	FieldReplays    = "replays"
	FieldGaveUp     = "gave_up"
)

// Read returns order id, nil when there is none, or a saga.Corrupt error
// when it cannot be read.
func Read(ctx context.Context, fs *firestore.Client, id string) (*Order, error) {
	return outbox.Read[Order](ctx, fs, Orders, id)
}

// ToDomain is the order of record id.
func (r *Order) ToDomain(id string) order.Order {
	o := order.Order{ID: id, UserID: r.UserID, TicketID: r.TicketID, Quantity: r.Quantity, Price: r.Price,
		Status: r.Status, Reason: r.Reason, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
		Recovery: order.Recovery{Replays: r.Replays, GaveUp: r.GaveUp}}
	if r.StoppedAt != nil {
		o.Recovery.StoppedAt = *r.StoppedAt
	}
	if r.NextReplay != nil {
		o.Recovery.NextReplay = *r.NextReplay
	}
	for _, e := range r.History {
		o.History = append(o.History, order.Entry(e))
	}
	return o
}

// FromDomain sets the record's order fields from o (not its outbox, nor
// its fingerprint).
func (r *Order) FromDomain(o order.Order) {
	r.Bucket = BucketOf(o.ID)
	r.UserID, r.TicketID, r.Quantity, r.Price = o.UserID, o.TicketID, o.Quantity, o.Price
	r.Status, r.Reason, r.CreatedAt, r.UpdatedAt = o.Status, o.Reason, o.CreatedAt, o.UpdatedAt
	r.History = nil
	for _, e := range o.History {
		r.History = append(r.History, Entry(e))
	}
	r.StoppedAt, r.NextReplay = timePtr(o.Recovery.StoppedAt), timePtr(o.Recovery.NextReplay)
	r.Replays, r.GaveUp = o.Recovery.Replays, o.Recovery.GaveUp
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// Copy returns a copy of r that shares nothing a change makes.
func (r Order) Copy() Order {
	r.Outbox = r.Outbox.Clone()
	r.History = slices.Clone(r.History)
	return r
}
