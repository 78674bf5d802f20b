package outbox

import (
	"time"

	"github.com/ticketsaga/saga/shared/event"
	"github.com/ticketsaga/saga/shared/saga"
)

// The rules of a step, apart from where its documents are kept: Runner
// applies them to Firestore in a transaction, Memory to documents in memory
// (the protocol model). Neither has a rule of its own.

// run is a step on its saga document's outbox: when step ran, its stored
// event, still pending or not; else decide runs and its outcome becomes the
// step's event, recorded as pending (changed: the document must be
// written).
func (o *Outbox) run(step string, in event.Envelope, service string, eventID func() string, now time.Time,
	decide func() (saga.Outcome, error)) (msg event.Message, pending, changed bool, err error) {
	if stored, ok := o.Ran(step); ok {
		return stored, o.IsPending(step), false, nil
	}
	d, err := decide()
	if err != nil {
		return event.Message{}, false, false, err
	}
	in = in.WithRecords(service, o.History(service))
	if msg, err = event.NewMessage(in, d.Event, service, eventID(), d.Reason, now); err != nil {
		return event.Message{}, false, false, err
	}
	o.Record(step, msg, now)
	return msg, true, true, nil
}

// publication is what a step publishes after its commit. A replay
// (self-healing: the sweep replays an event because the order is still
// unfinished, so this step's result may have been lost downstream) sends
// the event again, marked, whether or not it was published; consumers
// absorb it if it was not lost. Otherwise the event goes out only while it
// is pending: a duplicate delivery causes no new event. mark: the event was
// pending, and is marked published once out.
func publication(msg event.Message, pending, replay bool) (out event.Message, publish, mark bool) {
	switch {
	case replay:
		return msg.AsReplay(), true, pending
	case pending:
		return msg, true, true
	}
	return msg, false, false
}

// unpublish marks step's event published.
func (o *Outbox) unpublish(step string) {
	for i, s := range o.Pending {
		if s == step {
			o.Pending = append(o.Pending[:i:i], o.Pending[i+1:]...)
			return
		}
	}
}

// Clone returns a copy of o that shares nothing it may change. Stored
// events are never changed, so they are shared.
func (o Outbox) Clone() Outbox {
	c := o
	if o.Steps != nil {
		c.Steps = make(map[string]event.Message, len(o.Steps))
		for k, m := range o.Steps {
			c.Steps[k] = m
		}
	}
	c.Pending = append([]string(nil), o.Pending...)
	return c
}
