// Package order is order-service's domain: what an order is, how a purchase
// request is validated, and how the saga's events move an order to its
// terminal state.
package order

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"
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

// ReasonTimeout is the reason of a cancelled order.
const ReasonTimeout = "timeout"

// Saga event types order-service reacts to.
const (
	EventGrantedTicket = "granted-ticket"
	EventFailedPoint   = "failed-point"
	EventRefundedPoint = "refunded-point"
)

// Entry is one line of the order's saga timeline.
type Entry struct {
	EventType string
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

// Apply moves o on a saga event. It returns the new order and whether it
// changed; late and duplicate events change nothing.
func Apply(o Order, eventType, reason string, at time.Time) (Order, bool) {
	next := o
	switch {
	case o.Status == StatusPending && eventType == EventGrantedTicket:
		next.Status, next.Reason = StatusCompleted, ""
	case o.Status == StatusPending && (eventType == EventFailedPoint || eventType == EventRefundedPoint):
		next.Status, next.Reason = StatusFailed, reason
	case o.Status == StatusStopping && (eventType == EventFailedPoint || eventType == EventRefundedPoint):
		// Points are back (or were never taken) and, for a refund, the
		// ticket was cancelled first: the timeout is fully compensated.
		next.Status, next.Reason = StatusCancelled, ReasonTimeout
	default:
		// A grant on a stopping order is being cancelled; anything on a
		// terminal order is late.
		return o, false
	}
	next.UpdatedAt = at
	return next, true
}

// Stop moves a pending order that is older than timeout at now to
// stopping. It reports whether it did.
func Stop(o Order, now time.Time, timeout time.Duration) (Order, bool) {
	if o.Status != StatusPending || now.Sub(o.CreatedAt) < timeout {
		return o, false
	}
	o.Status, o.UpdatedAt = StatusStopping, now
	return o, true
}

// ValidationError is a bad request field.
type ValidationError struct {
	Code    string
	Message string
}

func (e *ValidationError) Error() string { return e.Code + ": " + e.Message }

// Validate checks r's values; validID is the contract's id rule.
func (r Request) Validate(validID func(string) bool) error {
	switch {
	case !validID(r.UserID):
		return &ValidationError{"invalid_user_id", "user_id must be 1-128 of [A-Za-z0-9._-]"}
	case !validID(r.TicketID):
		return &ValidationError{"invalid_ticket_id", "ticket_id must be 1-128 of [A-Za-z0-9._-]"}
	case r.Quantity <= 0:
		return &ValidationError{"invalid_quantity", "quantity must be positive"}
	case r.Price <= 0:
		return &ValidationError{"invalid_price", "price must be positive"}
	case r.Quantity > 1_000_000 || r.Price > 1_000_000_000_000:
		return &ValidationError{"too_large", fmt.Sprintf("quantity %d or price %d is out of range", r.Quantity, r.Price)}
	}
	return nil
}
