// Package outbox runs saga steps the reliable way: a step's business change,
// the record that it ran, and the event it causes commit in one Firestore
// transaction; the event is published after the commit, and every later
// delivery of the step's input re-publishes the stored event with the same
// event_id instead of running the step again. Nothing marks an event
// published: an event whose publish was lost is sent again when its input
// comes again, and order-service replays an order that stays unfinished,
// which brings every input of the saga again (docs/self-healing.md).
//
// Saga documents are typed: each service's document struct embeds Outbox,
// and a step changes the struct, never a map of field names.
package outbox

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"time"

	"cloud.google.com/go/firestore"
	"cloud.google.com/go/pubsub/v2"
	vkit "cloud.google.com/go/pubsub/v2/apiv1"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"github.com/google/uuid"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ticketsaga/saga/shared/event"
	"github.com/ticketsaga/saga/shared/platform/metrics"
	"github.com/ticketsaga/saga/shared/platform/telemetry"
	"github.com/ticketsaga/saga/shared/saga"
)

// Publisher publishes saga events.
type Publisher struct {
	c     *vkit.TopicAdminClient
	topic string
}

// NewPublisher returns a publisher on topic, an ID in c's project or a full
// name. A saga event is a single message that the rest of the saga waits
// for, so each goes out in its own Publish call at once: the client's
// batching Publisher would add a delay threshold and a scheduler with its
// own goroutines to every hop, for batches of one.
func NewPublisher(c *pubsub.Client, topic string) *Publisher {
	if !strings.HasPrefix(topic, "projects/") {
		topic = "projects/" + c.Project() + "/topics/" + topic
	}
	return &Publisher{c: c.TopicAdminClient, topic: topic}
}

// Publish sends m and returns once Pub/Sub has it. The generated client
// retries transient failures with backoff.
func (p *Publisher) Publish(ctx context.Context, m event.Message) (err error) {
	// A child of the step that caused m, even when a redelivery or a
	// replay publishes it long after; the message carries the span on to
	// its consumer.
	ctx, span, attrs := telemetry.StartPublish(ctx, p.topic, telemetry.Message{EventType: string(m.Type), OrderID: m.OrderID,
		EventID: m.EventID, Source: m.Attributes[saga.AttrSource]}, m.Attributes)
	defer func() { telemetry.End(span, err) }()
	publish := func(data []byte) error {
		_, err := p.c.Publish(ctx, &pubsubpb.PublishRequest{Topic: p.topic,
			Messages: []*pubsubpb.PubsubMessage{{Data: data, Attributes: attrs}}})
		return err
	}
	err = publish(m.Data)
	// An event stored before the topic had its schema is in the older
	// form, which the schema refuses: a replay sends it again
	// upgraded. Only then: rewriting every event would cost each publish
	// a decode and an encode.
	if status.Code(err) == codes.InvalidArgument {
		if up := event.Upgrade(m.Data); !bytes.Equal(up, m.Data) {
			err = publish(up)
		}
	}
	if err != nil {
		metrics.PublishFailed(ctx, m.Attributes[saga.AttrSource], m.Type)
		return fmt.Errorf("publish %s %s for order %s: %w", m.Type, m.EventID, m.OrderID, err)
	}
	metrics.Publishes.Add(1)
	return nil
}

// Outbox is the part of every saga document this package owns: the event
// each step caused, and when the document last changed.
type Outbox struct {
	Steps     map[string]event.Message `firestore:"steps,omitempty"`
	UpdatedAt time.Time                `firestore:"updated_at"`
}

// Field names of Outbox in a saga document, for queries and updates.
const (
	FieldSteps     = "steps"
	FieldUpdatedAt = "updated_at"
)

// Box returns the outbox itself: a struct that embeds Outbox is a Document.
func (o *Outbox) Box() *Outbox { return o }

// Document is a saga document: a struct that embeds Outbox.
type Document interface{ Box() *Outbox }

// Doc is a pointer to a saga document type T.
type Doc[T any] interface {
	*T
	Document
}

// Ran returns the event step stored, if the step ran.
func (o *Outbox) Ran(step string) (event.Message, bool) {
	m, ok := o.Steps[step]
	return m, ok
}

// Record stores step's event m.
func (o *Outbox) Record(step string, m event.Message, now time.Time) {
	if o.Steps == nil {
		o.Steps = map[string]event.Message{}
	}
	o.Steps[step] = m
	o.UpdatedAt = now
}

// History returns service's records from the events its steps stored.
func (o *Outbox) History(service string) []event.Record {
	var recs []event.Record
	for _, m := range o.Steps {
		if env, err := event.Decode(m.Data); err == nil {
			recs = append(recs, env.Records(service)...)
		}
	}
	return recs
}

// Steps is one service's outbox on its saga collection, one document per
// order: it publishes what steps committed.
type Steps struct {
	FS         *firestore.Client
	Collection string
	Service    string
	Publisher  *Publisher
	Now        func() time.Time
	// AfterCommit, when set, runs between a step's commit and its
	// publish: the fault switch that proves a crash there loses nothing.
	AfterCommit func(step string)
}

// Committed calls the AfterCommit hook.
func (s *Steps) Committed(step string) {
	if s.AfterCommit != nil {
		s.AfterCommit(step)
	}
}

// Ref is the saga document of order id.
func (s *Steps) Ref(id string) *firestore.DocumentRef { return s.FS.Collection(s.Collection).Doc(id) }

// Runner runs steps on saga documents of type T.
type Runner[T any, P Doc[T]] struct {
	*Steps
	// Attempts bounds how many times a transaction aborted by contention
	// runs (0: the client library's default, 5). A step that can move to
	// another document instead (a grant, to another stock shard) asks for
	// 1 and gets the ABORTED error back.
	Attempts int
}

// Decide runs inside the step's transaction with the saga document (zero
// when it does not exist yet) and the documents the step asked for, all
// read in one round trip (a missing one is a snapshot that does not exist).
// It changes the saga document, writes business documents through tx, and
// decides. An error aborts the step.
type Decide[P any] func(tx *firestore.Transaction, rec P, docs []*firestore.DocumentSnapshot) (saga.Outcome, error)

// Run runs step for the order of in at most once. The first run commits
// decide's changes and the saga document with the resulting event; every
// run publishes that event, a replay's (in.Replay) marked as a replay. It
// returns the step's event.
func (r Runner[T, P]) Run(ctx context.Context, step string, in event.Envelope, reads []*firestore.DocumentRef, decide Decide[P]) (_ event.Message, err error) {
	ctx, span := telemetry.Start(ctx, r.Service+" "+step, trace.WithAttributes(attribute.String("saga.order_id", in.ID),
		attribute.String("saga.step", step), attribute.Bool("saga.replay", in.Replay)))
	// Deferred, so that a publish that fails after the commit still ends
	// (and exports) the span the stored event names as the parent of its
	// later publish. A process that dies there loses it: the later publish
	// then names a parent the trace does not hold.
	defer func() { telemetry.End(span, err) }()
	return r.runStep(ctx, step, in, reads, decide)
}

func (r Runner[T, P]) runStep(ctx context.Context, step string, in event.Envelope, reads []*firestore.DocumentRef, decide Decide[P]) (event.Message, error) {
	ref := r.Ref(in.ID)
	stepCtx := ctx
	var (
		msg     event.Message
		changed bool
	)
	txCtx, txSpan := telemetry.Start(ctx, "firestore transaction", trace.WithAttributes(attribute.String("db.collection.name", r.Collection)))
	var opts []firestore.TransactionOption
	if r.Attempts > 0 {
		opts = append(opts, firestore.MaxAttempts(r.Attempts))
	}
	err := r.FS.RunTransaction(txCtx, func(ctx context.Context, tx *firestore.Transaction) error {
		snaps, err := tx.GetAll(append([]*firestore.DocumentRef{ref}, reads...))
		if err != nil {
			return fmt.Errorf("read %s and its documents: %w", ref.Path, err)
		}
		var rec T
		p := P(&rec)
		if snaps[0].Exists() {
			if err := snaps[0].DataTo(p); err != nil {
				return saga.CorruptRecord(ref.Path, err)
			}
		}
		msg, changed, err = p.Box().run(step, in, r.Service, uuid.NewString, r.Now().UTC(),
			func() (saga.Outcome, error) { return decide(tx, p, snaps[1:]) })
		if err != nil || !changed {
			return err
		}
		p.Box().stamp(stepCtx, step, &msg)
		return tx.Set(ref, p)
	}, opts...)
	telemetry.End(txSpan, err)
	if err != nil {
		return event.Message{}, fmt.Errorf("%s step %s for order %s: %w", r.Service, step, in.ID, err)
	}
	if changed {
		r.Committed(step)
	}
	return msg, r.Publisher.Publish(ctx, publication(msg, in.Replay))
}

// GetTx reads ref in tx; a missing document is a snapshot that does not
// exist, not an error.
func GetTx(tx *firestore.Transaction, ref *firestore.DocumentRef) (*firestore.DocumentSnapshot, error) {
	snap, err := tx.Get(ref)
	if err != nil && status.Code(err) != codes.NotFound {
		return nil, fmt.Errorf("read %s: %w", ref.Path, err)
	}
	if snap == nil {
		snap = &firestore.DocumentSnapshot{Ref: ref}
	}
	return snap, nil
}

// Read returns the document id of collection decoded as a T, nil when it
// does not exist, or a saga.Corrupt error when it cannot be decoded: a read
// model's read.
func Read[T any](ctx context.Context, fs *firestore.Client, collection, id string) (*T, error) {
	snap, err := fs.Collection(collection).Doc(id).Get(ctx)
	if status.Code(err) == codes.NotFound {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s/%s: %w", collection, id, err)
	}
	var d T
	if err := snap.DataTo(&d); err != nil {
		return nil, saga.CorruptRecord(collection+"/"+id, err)
	}
	return &d, nil
}
