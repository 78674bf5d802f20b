// Package event is the saga's message format, the one contract between
// the three services beside the vocabulary in package saga: the envelope
// each service merges its history into (docs/contract.md, Events), and the message that
// carries it.
package event

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/ticketsaga/saga/shared/saga"
)

// Record is one line of the saga timeline.
type Record struct {
	EventType saga.EventType `json:"event_type"`
	Service   string         `json:"service"`
	At        time.Time      `json:"at"`
	EventID   string         `json:"event_id"`
	Reason    string         `json:"reason"`
}

// Order is the order-service part of the envelope: what was asked for.
type Order struct {
	UserID   string   `json:"user_id"`
	TicketID string   `json:"ticket_id"`
	Quantity int64    `json:"quantity"`
	Price    int64    `json:"price"`
	History  []Record `json:"history"`
}

// Section is the point-service or ticket-service part of the envelope.
type Section struct {
	// Reason is why the service's last step failed, or, for a refund,
	// what caused it.
	Reason  string   `json:"reason"`
	History []Record `json:"history"`
}

// Envelope is the data of every saga message. Its wire form is the topic's
// schema (infra/saga-events.avsc, docs/events.md), written by MarshalJSON.
type Envelope struct {
	ID     string   `json:"id"`
	Order  *Order   `json:"order,omitempty"`
	Point  *Section `json:"point,omitempty"`
	Ticket *Section `json:"ticket,omitempty"`
	// Replay says the message carrying the envelope was a replay
	// (saga.AttrReplay), and Source which service published it
	// (saga.AttrSource); they travel in the attributes, not in the data.
	Replay bool   `json:"-"`
	Source string `json:"-"`
}

// MarshalJSON writes the envelope complete: every section, every field, and
// empty histories as []. The topic's schema is JSON-encoded Avro, which
// refuses a message with a field missing or null, defaults or not.
func (e Envelope) MarshalJSON() ([]byte, error) {
	w := struct {
		ID     string  `json:"id"`
		Order  Order   `json:"order"`
		Point  Section `json:"point"`
		Ticket Section `json:"ticket"`
	}{ID: e.ID}
	if e.Order != nil {
		w.Order = *e.Order
	}
	if e.Point != nil {
		w.Point = *e.Point
	}
	if e.Ticket != nil {
		w.Ticket = *e.Ticket
	}
	for _, h := range []*[]Record{&w.Order.History, &w.Point.History, &w.Ticket.History} {
		if *h == nil {
			*h = []Record{}
		}
	}
	return json.Marshal(w)
}

// Upgrade returns an envelope's data in the current wire form: a stored
// event written before the schema (empty sections left out) is refused by
// the topic as it is. Data that does not decode is returned unchanged.
func Upgrade(data []byte) []byte {
	e, err := Decode(data)
	if err != nil {
		return data
	}
	out, err := json.Marshal(e)
	if err != nil {
		return data
	}
	return out
}

// ErrMalformed marks an envelope that can never be processed.
var ErrMalformed = errors.New("malformed envelope")

// Decode parses and checks an envelope. A failure wraps ErrMalformed. It
// also takes the older form that left empty sections and fields out (events
// still in flight, or stored, from before the schema), and returns both
// forms alike: an empty section or history as nil.
func Decode(data []byte) (Envelope, error) {
	var e Envelope
	if err := json.Unmarshal(data, &e); err != nil {
		return Envelope{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	e.Point, e.Ticket = compact(e.Point), compact(e.Ticket)
	if e.Order != nil && len(e.Order.History) == 0 {
		e.Order.History = nil
	}
	switch {
	case !saga.ValidID(e.ID):
		return Envelope{}, fmt.Errorf("%w: bad id %q", ErrMalformed, e.ID)
	case e.Order == nil:
		return Envelope{}, fmt.Errorf("%w: missing order", ErrMalformed)
	case !saga.ValidID(e.Order.UserID) || !saga.ValidID(e.Order.TicketID):
		return Envelope{}, fmt.Errorf("%w: bad user_id or ticket_id", ErrMalformed)
	case e.Order.Quantity <= 0 || e.Order.Price <= 0 || e.Order.Quantity > saga.MaxAmount || e.Order.Price > saga.MaxAmount:
		return Envelope{}, fmt.Errorf("%w: quantity and price must be 1 to 2^53-1", ErrMalformed)
	}
	return e, nil
}

func compact(s *Section) *Section {
	switch {
	case s == nil || s.Reason == "" && len(s.History) == 0:
		return nil
	case len(s.History) == 0:
		s.History = nil
	}
	return s
}

// With returns a deep copy of e with rec appended to the section of
// rec.Service. For point and ticket, a non-empty rec.Reason also becomes the
// section's reason.
func (e Envelope) With(rec Record) Envelope {
	out := e.clone()
	switch rec.Service {
	case saga.OrderService:
		if out.Order == nil {
			out.Order = &Order{}
		}
		out.Order.History = append(out.Order.History, rec)
	case saga.PointService:
		if out.Point == nil {
			out.Point = &Section{}
		}
		out.Point.History = append(out.Point.History, rec)
		if rec.Reason != "" {
			out.Point.Reason = rec.Reason
		}
	case saga.TicketService:
		if out.Ticket == nil {
			out.Ticket = &Section{}
		}
		out.Ticket.History = append(out.Ticket.History, rec)
		if rec.Reason != "" {
			out.Ticket.Reason = rec.Reason
		}
	}
	return out
}

// Records returns the history records of service's section.
func (e Envelope) Records(service string) []Record {
	switch {
	case service == saga.OrderService && e.Order != nil:
		return e.Order.History
	case service == saga.PointService && e.Point != nil:
		return e.Point.History
	case service == saga.TicketService && e.Ticket != nil:
		return e.Ticket.History
	}
	return nil
}

// WithRecords returns a copy of e whose service section also holds recs,
// each event once, oldest first: a service carries its whole own timeline
// on, even into a branch of the saga that never saw its earlier events.
func (e Envelope) WithRecords(service string, recs []Record) Envelope {
	if len(recs) == 0 {
		return e
	}
	out := e.clone()
	merged := MergeHistory(out.Records(service), recs)
	switch service {
	case saga.OrderService:
		if out.Order == nil {
			out.Order = &Order{}
		}
		out.Order.History = merged
	case saga.PointService:
		if out.Point == nil {
			out.Point = &Section{}
		}
		out.Point.History = merged
	case saga.TicketService:
		if out.Ticket == nil {
			out.Ticket = &Section{}
		}
		out.Ticket.History = merged
	}
	return out
}

func (e Envelope) clone() Envelope {
	out := Envelope{ID: e.ID, Replay: e.Replay, Source: e.Source}
	if e.Order != nil {
		o := *e.Order
		o.History = slices.Clone(e.Order.History)
		out.Order = &o
	}
	if e.Point != nil {
		p := *e.Point
		p.History = slices.Clone(e.Point.History)
		out.Point = &p
	}
	if e.Ticket != nil {
		t := *e.Ticket
		t.History = slices.Clone(e.Ticket.History)
		out.Ticket = &t
	}
	return out
}

// History returns every record of the envelope, oldest first, each event
// once.
func (e Envelope) History() []Record {
	var all []Record
	if e.Order != nil {
		all = append(all, e.Order.History...)
	}
	if e.Point != nil {
		all = append(all, e.Point.History...)
	}
	if e.Ticket != nil {
		all = append(all, e.Ticket.History...)
	}
	return MergeHistory(nil, all)
}

// MergeHistory returns a and b merged, oldest first, without repeating an
// event (same event_id, or same type and service when ids are missing).
func MergeHistory(a, b []Record) []Record {
	seen := map[string]bool{}
	var out []Record
	for _, r := range slices.Concat(a, b) {
		k := r.EventID
		if k == "" {
			k = string(r.EventType) + "/" + r.Service
		}
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, r)
	}
	slices.SortStableFunc(out, func(x, y Record) int { return x.At.Compare(y.At) })
	return out
}

// Step is one step of a service's saga: it runs for an event of type t
// carrying in, and returns the event it caused (or stored, when it ran
// before). The step table (saga.Steps) says which event types run it.
type Step func(ctx context.Context, t saga.EventType, in Envelope) (Message, error)

// Message is an event ready to publish: data plus attributes. It is what
// the outbox stores, so a re-publish sends the same bytes and event_id.
type Message struct {
	Type       saga.EventType    `firestore:"type" json:"type"`
	EventID    string            `firestore:"event_id" json:"event_id"`
	OrderID    string            `firestore:"order_id" json:"order_id"`
	Data       []byte            `firestore:"data" json:"data"`
	Attributes map[string]string `firestore:"attributes" json:"attributes"`
}

// AsReplay returns a copy of m marked as a replay (saga.AttrReplay): the
// same data and event_id, so consumers still see the same event.
func (m Message) AsReplay() Message {
	attrs := make(map[string]string, len(m.Attributes)+1)
	for k, v := range m.Attributes {
		attrs[k] = v
	}
	attrs[saga.AttrReplay] = "1"
	m.Attributes = attrs
	return m
}

// NewMessage builds the message for an event of type t, caused by source
// at time at, merging source's record into the envelope it received.
func NewMessage(in Envelope, t saga.EventType, source, eventID, reason string, at time.Time) (Message, error) {
	out := in.With(Record{EventType: t, Service: source, At: at.UTC(), EventID: eventID, Reason: reason})
	data, err := json.Marshal(out)
	if err != nil {
		return Message{}, fmt.Errorf("encode %s envelope for order %s: %w", t, in.ID, err)
	}
	return Message{
		Type:    t,
		EventID: eventID,
		OrderID: in.ID,
		Data:    data,
		Attributes: map[string]string{
			saga.AttrEventType: string(t),
			saga.AttrOrderID:   in.ID,
			saga.AttrEventID:   eventID,
			saga.AttrSource:    source,
		},
	}, nil
}
