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
// event; else decide runs and its outcome becomes the step's event
// (changed: the document must be written).
func (o *Outbox) run(step string, in event.Envelope, service string, eventID func() string, now time.Time,
	decide func() (saga.Outcome, error)) (msg event.Message, changed bool, err error) {
	if stored, ok := o.Ran(step); ok {
		return stored, false, nil
	}
	d, err := decide()
	if err != nil {
		return event.Message{}, false, err
	}
	in = in.WithRecords(service, o.History(service))
	if msg, err = event.NewMessage(in, d.Event, service, eventID(), d.Reason, now); err != nil {
		return event.Message{}, false, err
	}
	o.Record(step, msg, now)
	return msg, true, nil
}

// publication is what a step publishes after its commit: its event, every
// time it sees its input. Nothing records whether an event went out (a
// mark would be a write per step), so a step that sees its input again (a
// redelivery after a failed publish or a crash, a duplicate, a replay of
// the order) sends its stored event again, with the same event_id, and
// consumers absorb what was not lost. A replay's event stays marked as
// one, so that the whole chain it walks is seen as a replay.
func publication(msg event.Message, replay bool) event.Message {
	if replay {
		return msg.AsReplay()
	}
	return msg
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
	return c
}
