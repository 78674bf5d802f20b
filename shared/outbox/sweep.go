package outbox

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/ticketsaga/saga/shared/httpjson"
	"github.com/ticketsaga/saga/shared/metrics"
)

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
// unpublished after Grace (their service crashed, or its publish failed and
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
			metrics.OutboxSwept(ctx, s.Service, n, err)
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
	var d struct{ Outbox }
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

// SweepHandler serves the outbox sweep of steps as a task endpoint (Cloud
// Scheduler in production, the local runner's ticker in `make run`).
// Documents that fail are logged and left for the next sweep; only a sweep
// that could not run answers 500.
func (s *Steps) SweepHandler(steps []string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		res, err := s.Sweep(r.Context(), steps)
		s.LogSweep(r.Context(), res)
		if err != nil {
			s.Log.ErrorContext(r.Context(), "outbox sweep failed", "collection", s.Collection, "error", err.Error())
			httpjson.Write(w, http.StatusInternalServerError, httpjson.Failure("sweep_failed", "outbox sweep failed; see logs"))
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
