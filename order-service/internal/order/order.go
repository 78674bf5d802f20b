// Package order is order-service's domain: what an order is, how a purchase
// request is validated, and how the saga's events move an order to its
// terminal state.
package order

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/ticketsaga/saga/shared/saga"
)

// Step names: the steps of order-service, and the keys of their events in its
// saga documents.
const (
	StepStart  = "start"  // started-order, when the order is placed
	StepStop   = "stop"   // stopped-order, when it times out
	StepSettle = "settle" // the events that end an order
)

// Status of an order.
type Status string

const (
	StatusPending Status = "pending"
	// StatusStopping: the order timed out and its compensations are under
	// way; the user still sees "pending" until they are done.
	StatusStopping  Status = "stopping"
	StatusCompleted Status = "completed"
	StatusFailed    Status = "failed"
	StatusCancelled Status = "cancelled"
)

// Terminal reports whether s is a final state.
func (s Status) Terminal() bool {
	return s == StatusCompleted || s == StatusFailed || s == StatusCancelled
}

// Entry is one line of the order's saga timeline.
type Entry struct {
	EventType saga.EventType
	Service   string
	At        time.Time
}

// Order is a purchase of Quantity tickets of TicketID for Price points.
type Order struct {
	ID        string
	UserID    string
	TicketID  string
	Quantity  int64
	Price     int64
	Status    Status
	Reason    string
	CreatedAt time.Time
	UpdatedAt time.Time
	History   []Entry
	Recovery  Recovery
}

// Recovery is how the sweep drives an unfinished order to its end when an
// event of its saga was lost (a publish that failed after its commit, a
// message dead-lettered during an outage): it replays the order's own
// event (started-order while the order is pending, stopped-order while it
// is stopping), and every step that already ran re-publishes what it
// stored, until the order ends. Nothing else in the saga watches for lost
// events.
type Recovery struct {
	StoppedAt time.Time
	// NextReplay is when the sweep replays the order next; zero when no
	// replay is due (terminal, or given up).
	NextReplay time.Time
	// Replays since the order was placed, then since it was stopped.
	Replays int
	// GaveUp: replays of a stopping order went on for HealPolicy.GiveUp
	// without the order ending; something that retrying cannot fix needs
	// an operator.
	GaveUp bool
}

// HealPolicy says when the sweep replays an unfinished order.
type HealPolicy struct {
	// Pending is how long after its creation a pending order is first
	// replayed, then doubled after each replay up to Max: well above the
	// time a saga takes, so that a sale without faults replays almost
	// nothing, and below the order timeout, so that a lost publish delays
	// a purchase instead of cancelling it.
	Pending time.Duration
	// First is how long after the stop the first replay of a stopping
	// order comes: the normal path usually ends the order well before.
	First time.Duration
	// Max is the longest wait between two replays: after an outage ends,
	// the order ends within Max plus one sweep interval.
	Max time.Duration
	// GiveUp is how long after the stop replays end, so that a fault no
	// retry can fix is not retried forever.
	GiveUp time.Duration
}

// backoff is the delay before replay number n+1 (n replays done): first,
// doubled after each replay, at most max.
func backoff(first, max time.Duration, n int) time.Duration {
	d := first
	for range n {
		if d >= max/2 {
			return max
		}
		d *= 2
	}
	return min(d, max)
}

// HealDecision is what the sweep does with an unfinished order.
type HealDecision int

const (
	// HealNone: nothing is due.
	HealNone HealDecision = iota
	// HealReplay: replay the order's event (ReplayStep) now.
	HealReplay
	// HealGiveUp: stop replaying; an operator must look.
	HealGiveUp
)

// Heal decides whether the sweep replays o at now, and returns the order
// with its next replay scheduled. A pending order is replayed until it
// ends or its timeout stops it; a stopping one until it ends or p.GiveUp
// has passed since the stop.
func Heal(o Order, now time.Time, p HealPolicy) (Order, HealDecision) {
	r := o.Recovery
	if o.Status.Terminal() || r.GaveUp || r.NextReplay.IsZero() || now.Before(r.NextReplay) {
		return o, HealNone
	}
	first := p.Pending
	if o.Status == StatusStopping {
		if now.Sub(r.StoppedAt) >= p.GiveUp {
			o.Recovery.GaveUp, o.Recovery.NextReplay = true, time.Time{}
			return o, HealGiveUp
		}
		first = p.First
	}
	o.Recovery.Replays++
	o.Recovery.NextReplay = now.Add(backoff(first, p.Max, o.Recovery.Replays))
	return o, HealReplay
}

// ReplayStep is the step whose event a replay of o sends again: the one
// that began what o is waiting for.
func ReplayStep(o Order) string {
	if o.Status == StatusStopping {
		return StepStop
	}
	return StepStart
}

// New is the order id placed by req at now, pending, with its first
// replay scheduled by p.
func New(id string, req Request, now time.Time, p HealPolicy) Order {
	return Order{ID: id, UserID: req.UserID, TicketID: req.TicketID, Quantity: req.Quantity, Price: req.Price,
		Status: StatusPending, CreatedAt: now, UpdatedAt: now, Recovery: Recovery{NextReplay: now.Add(p.Pending)}}
}

// Request is a purchase request.
type Request struct {
	UserID   string
	TicketID string
	Quantity int64
	Price    int64
}

// Fingerprint identifies the request's content, to tell an
// Idempotency-Key replay from a reuse of the key for something else.
func (r Request) Fingerprint() string {
	h := sha256.Sum256([]byte(r.UserID + "\x00" + r.TicketID + "\x00" +
		strconv.FormatInt(r.Quantity, 10) + "\x00" + strconv.FormatInt(r.Price, 10)))
	return hex.EncodeToString(h[:])
}

// MaxIdempotencyKey is the longest Idempotency-Key accepted.
const MaxIdempotencyKey = 255

// IDForKey derives the order id from an Idempotency-Key. Keys are scoped
// per user, and the same key always names the same order, so a replay
// finds the order by its id inside one transaction.
func IDForKey(userID, key string) string {
	h := sha256.Sum256([]byte(userID + "\x00" + key))
	return "k" + hex.EncodeToString(h[:16])
}

// ErrMismatch: an event names the order but not what it is: another user,
// ticket, quantity or price than the order stored. It is never applied.
var ErrMismatch = errors.New("event does not match the stored order")

// Check returns ErrMismatch unless the event's view of the order (r) is
// what o stored.
func Check(o Order, r Request) error {
	if o.UserID != r.UserID || o.TicketID != r.TicketID || o.Quantity != r.Quantity || o.Price != r.Price {
		return fmt.Errorf("%w: the event says %s/%s ×%d for %d, the order %s/%s ×%d for %d", ErrMismatch,
			r.UserID, r.TicketID, r.Quantity, r.Price, o.UserID, o.TicketID, o.Quantity, o.Price)
	}
	return nil
}

// Apply moves o on a saga event. It returns the new order and whether it
// changed; late and duplicate events change nothing.
func Apply(o Order, eventType saga.EventType, reason string, at time.Time) (Order, bool) {
	next := o
	switch {
	case o.Status == StatusPending && eventType == saga.GrantedTicket:
		next.Status, next.Reason = StatusCompleted, ""
	case o.Status == StatusPending && (eventType == saga.FailedPoint || eventType == saga.RefundedPoint):
		next.Status, next.Reason = StatusFailed, reason
	case o.Status == StatusStopping && (eventType == saga.FailedPoint || eventType == saga.RefundedPoint):
		// Points are back (or were never taken) and, for a refund, the
		// ticket was cancelled first: the timeout is fully compensated.
		next.Status, next.Reason = StatusCancelled, saga.ReasonTimeout
	default:
		// A grant on a stopping order is being cancelled; anything on a
		// terminal order is late.
		return o, false
	}
	next.UpdatedAt = at
	next.Recovery.NextReplay = time.Time{}
	return next, true
}

// Stop moves a pending order that is older than timeout at now to
// stopping, with its first replay scheduled by p. It reports whether it
// did.
func Stop(o Order, now time.Time, timeout time.Duration, p HealPolicy) (Order, bool) {
	if o.Status != StatusPending || now.Sub(o.CreatedAt) < timeout {
		return o, false
	}
	o.Status, o.UpdatedAt = StatusStopping, now
	o.Recovery = Recovery{StoppedAt: now, NextReplay: now.Add(backoff(p.First, p.Max, 0))}
	return o, true
}

// ValidationError is a bad request field.
type ValidationError struct {
	Code    string
	Message string
}

func (e *ValidationError) Error() string { return e.Code + ": " + e.Message }

// Validate checks r's values; validID is the contract's id rule, maxAmount
// the largest quantity or price. An empty UserID is not checked: the
// request then names no user, and the caller decides who it is.
func (r Request) Validate(validID func(string) bool, idRule string, maxAmount int64) error {
	switch {
	case r.UserID != "" && !validID(r.UserID):
		return &ValidationError{"invalid_user_id", "user_id must be " + idRule}
	case !validID(r.TicketID):
		return &ValidationError{"invalid_ticket_id", "ticket_id must be " + idRule}
	case r.Quantity <= 0 || r.Quantity > maxAmount:
		return &ValidationError{"invalid_quantity", fmt.Sprintf("quantity must be 1 to %d", maxAmount)}
	case r.Price <= 0 || r.Price > maxAmount:
		return &ValidationError{"invalid_price", fmt.Sprintf("price must be 1 to %d", maxAmount)}
	}
	return nil
}
