package outbox

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/ticketsaga/saga/shared/event"
	"github.com/ticketsaga/saga/shared/saga"
)

// Memory keeps one service's saga documents in memory and runs steps on
// them with the same rules as Runner (run once, publish the stored event
// every time): the stand-in for Firestore in the protocol model.
// It runs one step at a time.
type Memory[T any, P Doc[T]] struct {
	Service string
	Env
	// Copy returns a copy of a document that shares nothing a step
	// changes, so that a step that fails changes nothing.
	Copy func(T) T

	docs map[string]T
}

// Env is what the protocol model gives each service it runs in memory:
// its clock, its event ids, and the topic.
type Env struct {
	Now   func() time.Time
	NewID func() string
	// Publish sends an event. An error is a publish that failed after the
	// commit, as after a crash: the event is sent again only when the
	// step's input comes again.
	Publish func(ctx context.Context, m event.Message) error
}

// Get returns a copy of document id, and whether it exists.
func (m *Memory[T, P]) Get(id string) (T, bool) {
	d, ok := m.docs[id]
	if !ok {
		var zero T
		return zero, false
	}
	return m.Copy(d), true
}

// Put stores document id.
func (m *Memory[T, P]) Put(id string, d T) {
	if m.docs == nil {
		m.docs = map[string]T{}
	}
	m.docs[id] = d
}

// Each calls fn with every document, in the order of their ids, to read.
func (m *Memory[T, P]) Each(fn func(id string, d *T)) {
	for _, id := range m.IDs() {
		d := m.docs[id]
		fn(id, &d)
	}
}

// IDs returns the ids of the documents, sorted.
func (m *Memory[T, P]) IDs() []string { return slices.Sorted(maps.Keys(m.docs)) }

// Run runs step for the order of in at most once, as Runner.Run does.
// decide changes the saga document and returns the outcome and the
// business writes to apply if the step commits.
func (m *Memory[T, P]) Run(ctx context.Context, step string, in event.Envelope, decide func(rec P) (saga.Outcome, func(), error)) (event.Message, error) {
	rec, _ := m.Get(in.ID)
	p := P(&rec)
	var writes func()
	msg, changed, err := p.Box().run(step, in, m.Service, m.NewID, m.Now().UTC(), func() (saga.Outcome, error) {
		out, w, err := decide(p)
		writes = w
		return out, err
	})
	if err != nil {
		return event.Message{}, fmt.Errorf("%s step %s for order %s: %w", m.Service, step, in.ID, err)
	}
	if changed {
		m.Put(in.ID, rec)
		if writes != nil {
			writes()
		}
	}
	return msg, m.Publish(ctx, publication(msg, in.Replay))
}

// Clone returns a copy of m and its documents, in env.
func (m *Memory[T, P]) Clone(env Env) *Memory[T, P] {
	c := *m
	c.Env = env
	c.docs = make(map[string]T, len(m.docs))
	for id, d := range m.docs {
		c.docs[id] = m.Copy(d)
	}
	return &c
}
