// Package outbox runs saga steps the reliable way: a step's business change,
// the record that it ran, and the event it causes commit in one Firestore
// transaction; the event is published after the commit, and a redelivery
// re-publishes the stored event with the same event_id instead of running
// the step again.
package outbox

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/firestore"
	"cloud.google.com/go/pubsub/v2"
	vkit "cloud.google.com/go/pubsub/v2/apiv1"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ticketsaga/saga/shared/event"
	"github.com/ticketsaga/saga/shared/metrics"
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
func (p *Publisher) Publish(ctx context.Context, m event.Message) error {
	_, err := p.c.Publish(ctx, &pubsubpb.PublishRequest{Topic: p.topic,
		Messages: []*pubsubpb.PubsubMessage{{Data: m.Data, Attributes: m.Attributes}}})
	if err != nil {
		return fmt.Errorf("publish %s %s for order %s: %w", m.Type, m.EventID, m.OrderID, err)
	}
	metrics.Publishes.Add(1)
	return nil
}

// Saga document fields owned by this package.
const (
	FieldSteps   = "steps"
	FieldPending = "outbox_pending"
)

// Doc is the part of a saga document this package reads.
type Doc struct {
	Steps   map[string]event.Message `firestore:"steps"`
	Pending []string                 `firestore:"outbox_pending"`
}

// Stored returns the event step stored in snap, if the step ran.
func Stored(snap *firestore.DocumentSnapshot, step string) (event.Message, bool, error) {
	if snap == nil || !snap.Exists() {
		return event.Message{}, false, nil
	}
	var d Doc
	if err := snap.DataTo(&d); err != nil {
		return event.Message{}, false, fmt.Errorf("decode saga document %s: %w", snap.Ref.ID, err)
	}
	m, ok := d.Steps[step]
	return m, ok, nil
}

// IsPending reports whether step's event of snap awaits publishing.
func IsPending(snap *firestore.DocumentSnapshot, step string) bool {
	if snap == nil || !snap.Exists() {
		return false
	}
	var d Doc
	if err := snap.DataTo(&d); err != nil {
		return true
	}
	return slices.Contains(d.Pending, step)
}

// RecordFields returns the fields that record step's event m in a saga
// document, to be merged into the step's write.
func RecordFields(step string, m event.Message) map[string]any {
	return map[string]any{
		FieldSteps:   map[string]any{step: m},
		FieldPending: firestore.ArrayUnion(step),
	}
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

// ownHistory returns service's records from the events its earlier steps
// stored for this order.
func ownHistory(snap *firestore.DocumentSnapshot, service string) []event.Record {
	if snap == nil || !snap.Exists() {
		return nil
	}
	var d Doc
	if err := snap.DataTo(&d); err != nil {
		return nil
	}
	var recs []event.Record
	for _, m := range d.Steps {
		if env, err := event.Decode(m.Data); err == nil {
			recs = append(recs, env.Records(service)...)
		}
	}
	return recs
}

// Decision is what a step decided: the event it causes and the saga fields
// it changes.
type Decision struct {
	Event  event.Type
	Reason string
	Fields map[string]any
}

// Decide runs inside the step's transaction with the saga document and the
// documents the step asked for, all read in one round trip (a missing one
// is a snapshot that does not exist). It writes business documents through
// tx and decides. An error aborts the step.
type Decide func(tx *firestore.Transaction, saga *firestore.DocumentSnapshot, docs []*firestore.DocumentSnapshot) (Decision, error)

// Steps runs one service's saga steps against its saga collection, one
// document per order.
type Steps struct {
	FS         *firestore.Client
	Collection string
	Service    string
	Publisher  *Publisher
	Log        *slog.Logger
	Now        func() time.Time
	// Grace is how long a committed event may stay unpublished before the
	// outbox sweep publishes it (OUTBOX_GRACE).
	Grace time.Duration
	// AfterCommit, when set, runs between a step's commit and its
	// publish: the fault switch that proves a crash there loses nothing.
	AfterCommit func(step string)

	marksOnce sync.Once
	marks     *marker
}

// Committed calls the AfterCommit hook.
func (s *Steps) Committed(step string) {
	if s.AfterCommit != nil {
		s.AfterCommit(step)
	}
}

// Run runs step for the order of in at most once. The first run commits
// decide's changes with the resulting event; every run publishes that event
// while it is pending. It returns the step's event.
func (s *Steps) Run(ctx context.Context, step string, in event.Envelope, reads []*firestore.DocumentRef, decide Decide) (event.Message, error) {
	ref := s.FS.Collection(s.Collection).Doc(in.ID)
	var (
		msg     event.Message
		pending bool
	)
	err := s.FS.RunTransaction(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
		snaps, err := tx.GetAll(append([]*firestore.DocumentRef{ref}, reads...))
		if err != nil {
			return fmt.Errorf("read %s and its documents: %w", ref.Path, err)
		}
		snap := snaps[0]
		stored, ran, err := Stored(snap, step)
		if err != nil {
			return err
		}
		if ran {
			msg, pending = stored, IsPending(snap, step)
			return nil
		}
		d, err := decide(tx, snap, snaps[1:])
		if err != nil {
			return err
		}
		in := in.WithRecords(s.Service, ownHistory(snap, s.Service))
		now := s.Now().UTC()
		msg, err = event.NewMessage(in, d.Event, s.Service, uuid.NewString(), d.Reason, now)
		if err != nil {
			return err
		}
		pending = true
		fields := RecordFields(step, msg)
		for k, v := range d.Fields {
			fields[k] = v
		}
		fields["updated_at"] = now
		return tx.Set(ref, fields, firestore.MergeAll)
	})
	if err != nil {
		return event.Message{}, fmt.Errorf("%s step %s for order %s: %w", s.Service, step, in.ID, err)
	}
	if in.Replay {
		// Self-healing: the sweep replays an event because the order is
		// still unfinished, so this step's result may have been lost
		// downstream. Send it again, marked, whether or not it was
		// published; consumers absorb it if it was not lost.
		if pending {
			s.Committed(step)
			return msg, s.Publish(ctx, ref, step, msg.AsReplay())
		}
		return msg, s.Publisher.Publish(ctx, msg.AsReplay())
	}
	if !pending {
		// Already published: a duplicate delivery causes no new event.
		return msg, nil
	}
	s.Committed(step)
	if err := s.Publish(ctx, ref, step, msg); err != nil {
		return event.Message{}, err
	}
	return msg, nil
}

// Publish publishes step's event m stored in ref, then marks it published.
// The mark is off the critical path: if it is lost, the event is only
// published once more, which consumers absorb.
func (s *Steps) Publish(ctx context.Context, ref *firestore.DocumentRef, step string, m event.Message) error {
	if err := s.Publisher.Publish(ctx, m); err != nil {
		return err
	}
	s.marksOnce.Do(func() { s.marks = &marker{fs: s.FS, log: s.Log, window: 200 * time.Millisecond} })
	if s.marks != nil { // nil once Wait ran: the sweep will see it
		s.marks.add(ref, step)
	}
	return nil
}

// SweepResult is what one outbox sweep did.
type SweepResult struct {
	Republished int
	Failed      int
	// Errors are the first failures, each naming its document.
	Errors []error
}

// sweepPage is how many saga documents the outbox sweep reads at a time.
const sweepPage = 300

// Sweep publishes the events of steps that were committed but are still
// unpublished after grace (their service crashed, or its publish failed and
// no redelivery came). Publishing twice is harmless: consumers absorb it. It
// pages through any number of documents and keeps going past one that
// fails; the error is for a query that failed.
func (s *Steps) Sweep(ctx context.Context, steps []string) (SweepResult, error) {
	var res SweepResult
	cutoff := s.Now().Add(-s.Grace)
	q := s.FS.Collection(s.Collection).Where(FieldPending, "array-contains-any", steps).OrderBy(firestore.DocumentID, firestore.Asc).Limit(sweepPage)
	var last *firestore.DocumentSnapshot
	for {
		pq := q
		if last != nil {
			pq = q.StartAfter(last)
		}
		snaps, err := pq.Documents(ctx).GetAll()
		if err != nil {
			return res, fmt.Errorf("sweep %s outbox: %w", s.Collection, err)
		}
		for _, snap := range snaps {
			n, err := s.sweepOne(ctx, snap, cutoff)
			res.Republished += n
			if err != nil {
				res.Failed++
				if len(res.Errors) < 20 {
					res.Errors = append(res.Errors, fmt.Errorf("%s/%s: %w", s.Collection, snap.Ref.ID, err))
				}
			}
		}
		if len(snaps) < sweepPage {
			return res, nil
		}
		last = snaps[len(snaps)-1]
	}
}

func (s *Steps) sweepOne(ctx context.Context, snap *firestore.DocumentSnapshot, cutoff time.Time) (int, error) {
	var d struct {
		Doc
		UpdatedAt time.Time `firestore:"updated_at"`
	}
	if err := snap.DataTo(&d); err != nil {
		return 0, fmt.Errorf("undecodable saga document: %w", err)
	}
	if d.UpdatedAt.After(cutoff) {
		return 0, nil
	}
	n := 0
	for _, step := range d.Pending {
		m, ok := d.Steps[step]
		if !ok {
			continue
		}
		if err := s.Publisher.Publish(ctx, m); err != nil {
			return n, err
		}
		if _, err := snap.Ref.Update(ctx, []firestore.Update{{Path: FieldPending, Value: firestore.ArrayRemove(step)}}); err != nil {
			return n, fmt.Errorf("mark %s published: %w", step, err)
		}
		n++
		s.Log.InfoContext(ctx, "outbox sweep published a stranded event", "order_id", snap.Ref.ID, "step", step, "event_type", m.Type, "event_id", m.EventID)
	}
	return n, nil
}

// Wait writes the publish marks still pending, for a graceful shutdown.
func (s *Steps) Wait() {
	s.marksOnce.Do(func() {})
	if s.marks != nil {
		s.marks.close()
	}
}

// SweepHandler serves the outbox sweep as a task endpoint (Cloud Scheduler
// in production, the local runner's ticker in `make run`). Documents that
// fail are logged and left for the next sweep; only a sweep that could not
// run answers 500.
func (s *Steps) SweepHandler(steps []string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		res, err := s.Sweep(r.Context(), steps)
		s.LogSweep(r.Context(), res)
		if err != nil {
			s.Log.ErrorContext(r.Context(), "outbox sweep failed", "collection", s.Collection, "error", err.Error())
			http.Error(w, `{"error":{"code":"sweep_failed","message":"outbox sweep failed; see logs"}}`, http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"republished":%d,"failed":%d}`+"\n", res.Republished, res.Failed)
	})
}

// LogSweep logs the failures of an outbox sweep, once each.
func (s *Steps) LogSweep(ctx context.Context, res SweepResult) {
	for _, err := range res.Errors {
		s.Log.ErrorContext(ctx, "outbox sweep: a document failed; the next sweep tries it again", "collection", s.Collection, "error", err.Error())
	}
	if extra := res.Failed - len(res.Errors); extra > 0 {
		s.Log.ErrorContext(ctx, "outbox sweep: more documents failed", "collection", s.Collection, "count", extra)
	}
}
