// Package saga is the saga's vocabulary, shared by every layer of every
// service: the event types and their attributes, the service names, the
// business reasons, the rules for ids and amounts, and the kinds of error.
// It imports nothing but the standard library, so a domain package may use
// it.
package saga

import (
	"fmt"
	"slices"
	"strings"
)

// EventType is a saga event type, carried in the event_type attribute
// (docs/contract.md, Events).
type EventType string

const (
	StartedOrder   EventType = "started-order"
	StoppedOrder   EventType = "stopped-order"
	ConsumedPoint  EventType = "consumed-point"
	FailedPoint    EventType = "failed-point"
	RefundedPoint  EventType = "refunded-point"
	GrantedTicket  EventType = "granted-ticket"
	FailedTicket   EventType = "failed-ticket"
	CanceledTicket EventType = "canceled-ticket"
)

// EventTypes lists every saga event type.
var EventTypes = []EventType{StartedOrder, StoppedOrder, ConsumedPoint, FailedPoint, RefundedPoint, GrantedTicket, FailedTicket, CanceledTicket}

// Valid reports whether t is one of the saga's event types.
func (t EventType) Valid() bool { return slices.Contains(EventTypes, t) }

// Message attribute keys.
const (
	AttrEventType = "event_type"
	AttrOrderID   = "order_id"
	AttrEventID   = "event_id"
	AttrSource    = "source"
	// AttrReplay marks a message the timeout sweep re-sent to drive an
	// unfinished order on (self-healing), and what steps re-publish for
	// it: a label, since every delivery of a step's input makes a step that
	// already ran re-publish its stored event; the mark travels down the
	// chain, so one replay can be told apart in logs and traces.
	AttrReplay = "replay"
	// AttrRedriveTo marks a message redriven from the dead-letter topic:
	// only the named subscription handles it. Subscription filters route
	// it in production; the handlers check it too, for the emulator.
	AttrRedriveTo = "redrive_to"
)

// Service names, in the source attribute and in history records.
const (
	OrderService  = "order-service"
	PointService  = "point-service"
	TicketService = "ticket-service"
)

// The task endpoints Cloud Scheduler calls on the services (private, with
// the scheduler's token).
const (
	// TaskSweep (order-service): stop expired orders, and replay the
	// orders that stay unfinished (docs/self-healing.md).
	TaskSweep = "/tasks/sweep"
	// TaskReconcile (order-service): compare the three services' records.
	TaskReconcile = "/tasks/reconcile"
)

// Reasons a purchase fails or is cancelled (docs/contract.md, HTTP API).
const (
	ReasonInsufficientPoints = "insufficient_points"
	ReasonUnknownAccount     = "unknown_account"
	ReasonSoldOut            = "sold_out"
	ReasonUnknownTicket      = "unknown_ticket"
	ReasonPriceMismatch      = "price_mismatch"
	// ReasonTimeout: the order took too long and was stopped; also why a
	// late action is refused after its compensation ran.
	ReasonTimeout = "timeout"
)

// MaxAmount is the largest amount (balance, price, stock, quantity) the
// saga accepts, 2^53 - 1: every JavaScript client reads it exactly
// (docs/contract.md, HTTP API). Sums of two amounts still fit an int64 with room.
const MaxAmount = 1<<53 - 1

// IDRule says what ValidID accepts, for error messages.
const IDRule = "1-128 of [A-Za-z0-9._-], not '.', '..' or __name__"

// ValidID reports whether s is an id the saga accepts (docs/contract.md, HTTP API): 1-128
// letters, digits, '-', '_' or '.', and none of the document ids Firestore
// reserves ("." and "..", and ids that start and end with "__"), so every
// id is a document id that Firestore stores.
func ValidID(s string) bool {
	if len(s) == 0 || len(s) > 128 || s == "." || s == ".." {
		return false
	}
	if len(s) >= 4 && strings.HasPrefix(s, "__") && strings.HasSuffix(s, "__") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.':
		default:
			return false
		}
	}
	return true
}

// Unhappy reports whether t is off the happy path: a failure, a stop or a
// compensation. Steps that cause one are logged at Info, the others at
// Debug.
func (t EventType) Unhappy() bool {
	switch t {
	case StoppedOrder, FailedPoint, RefundedPoint, FailedTicket, CanceledTicket:
		return true
	}
	return false
}

// Outcome is what a step decided: the event it causes, and why when the
// order fails or is compensated.
type Outcome struct {
	Event  EventType
	Reason string
}

// Forward is the outcome of a forward step: ok, or failed for reason when
// the domain gave one.
func Forward(ok, failed EventType, reason string) Outcome {
	if reason != "" {
		return Outcome{Event: failed, Reason: reason}
	}
	return Outcome{Event: ok}
}

// Steps is a service's step table: the event types it handles, and the
// step each one runs. It is the only place that says which events a service
// handles: its push routing is built from it, and a test holds it equal to
// its subscription's filter in infra/pubsub.json.
type Steps map[EventType]string

// EventTypes returns the table's event types, sorted.
func (s Steps) EventTypes() []EventType {
	out := make([]EventType, 0, len(s))
	for t := range s {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

// CheckSteps returns an error unless steps are exactly the steps table
// names: every event runs a step that exists, and every step runs for some
// event.
func CheckSteps[Step any](table Steps, steps map[string]Step) error {
	named := map[string]bool{}
	for t, name := range table {
		if _, ok := steps[name]; !ok {
			return fmt.Errorf("step %q of %s does not exist", name, t)
		}
		named[name] = true
	}
	for name := range steps {
		if !named[name] {
			return fmt.Errorf("step %q runs for no event type", name)
		}
	}
	return nil
}
