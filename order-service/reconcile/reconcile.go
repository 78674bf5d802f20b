// Package reconcile is the saga's reconciliation, part of order-service: it
// checks the orders that settled against point- and ticket-service's
// records, read through the read models those services export, repairs what
// it can, and records every run.
package reconcile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"cloud.google.com/go/firestore"
	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ticketsaga/saga/order-service/internal/ordermetrics"
	"github.com/ticketsaga/saga/order-service/records"
	pointrecords "github.com/ticketsaga/saga/point-service/records"
	"github.com/ticketsaga/saga/shared/event"
	"github.com/ticketsaga/saga/shared/outbox"
	"github.com/ticketsaga/saga/shared/platform/httpjson"
	"github.com/ticketsaga/saga/shared/saga"
	ticketrecords "github.com/ticketsaga/saga/ticket-service/records"
)

// Finding is an order whose records across the services disagree, or that
// has not ended long after it should have.
type Finding struct {
	OrderID     string `firestore:"order_id" json:"order_id"`
	Status      string `firestore:"status" json:"status"`
	PointState  string `firestore:"point_state" json:"point_state"`
	TicketState string `firestore:"ticket_state" json:"ticket_state"`
	Problem     string `firestore:"problem" json:"problem"`
	// Repair is what the run did: the event it re-published, or "" when
	// the problem needs a person (or, for an unfinished order, belongs to
	// the timeout sweep's replays).
	Repair string `firestore:"repair" json:"repair,omitempty"`
	// ExpireAt: Firestore's TTL policy deletes the finding then.
	ExpireAt time.Time `firestore:"expire_at,omitempty" json:"-"`
}

// maxSamples is how many findings a run document holds; all of them are in
// its findings subcollection, one document each, so a run document stays
// small whatever it finds.
const maxSamples = 20

// Run is one reconciliation run, as recorded in reconcile_runs.
type Run struct {
	ID         string    `firestore:"-" json:"run_id"`
	Status     string    `firestore:"status" json:"status"` // running, done
	StartedAt  time.Time `firestore:"started_at" json:"started_at"`
	FinishedAt time.Time `firestore:"finished_at" json:"finished_at"`
	// The run checks the orders that settled in (From, Through]: the
	// previous run's Through up to Settle before the run began.
	From    time.Time `firestore:"from" json:"from"`
	Through time.Time `firestore:"through" json:"through"`
	// The cursor within the window: the bucket of orders being checked
	// (records.Buckets), and the last order checked in it.
	CursorBucket int       `firestore:"cursor_bucket" json:"-"`
	CursorAt     time.Time `firestore:"cursor_at" json:"-"`
	CursorID     string    `firestore:"cursor_id" json:"-"`
	// Phase is where a run that died should resume: "recheck", "settled",
	// "unfinished".
	Phase string `firestore:"phase" json:"-"`
	// Previous is the run whose findings this one re-checks.
	Previous string `firestore:"previous" json:"previous,omitempty"`
	Resumed  int    `firestore:"resumed" json:"resumed"`
	// Checked settled orders of the window; Rechecked findings of the
	// previous run, Resolved those of them now consistent.
	Checked    int `firestore:"checked" json:"checked"`
	Consistent int `firestore:"consistent" json:"consistent"`
	Rechecked  int `firestore:"rechecked" json:"rechecked"`
	Resolved   int `firestore:"resolved" json:"resolved"`
	// InFlight: orders of the window not yet ended (the sweep owns them);
	// Unfinished: orders not ended long after their bound (findings).
	InFlight   int `firestore:"in_flight" json:"in_flight"`
	Unfinished int `firestore:"unfinished" json:"unfinished"`
	// Unreadable documents were reported as findings and skipped.
	Unreadable int       `firestore:"unreadable" json:"unreadable"`
	Findings   int       `firestore:"findings" json:"findings"`
	Repaired   int       `firestore:"repaired" json:"repaired"`
	Samples    []Finding `firestore:"samples" json:"samples"`
	// ExpireAt: Firestore's TTL policy deletes the run then.
	ExpireAt time.Time `firestore:"expire_at" json:"-"`
}

// Retention is how long a run and its findings are kept (a TTL policy on
// expire_at; infra/indexes.json).
const Retention = 90 * 24 * time.Hour

// State is where the next run starts.
type State struct {
	Through time.Time `firestore:"through"`
	LastRun string    `firestore:"last_run"`
}

// Collections of the reconciliation's own records.
const (
	FindingsSub = "findings" // under each run
	StateColl   = "reconcile_state"
	stateDoc    = "cursor"
)

// Reconciler checks settled orders against the point and ticket records:
// completed means points taken and tickets granted; failed or cancelled
// means net zero. It works incrementally: each run checks what settled
// since the last one, re-checks the last run's findings, and lists orders
// that have not ended long after their bound. It repairs what it can by
// re-publishing the stored event that drives the missing step (consumers
// absorb a repeat), so running it twice, or again after a crash midway,
// changes nothing more.
type Reconciler struct {
	FS        *firestore.Client
	Publisher Publisher
	Now       func() time.Time
	// Settle: orders updated more recently than this are left to the
	// next run, as their compensations may still be in flight.
	Settle time.Duration
	// StuckAfter: an order not ended this long after it was created is a
	// finding (the bound of the README, with room).
	StuckAfter time.Duration
	// CrashAfter, for tests, stops a run after this many orders, as a
	// crash would, leaving it "running" to be resumed.
	CrashAfter int

	done int
}

const page = 200

// New returns the reconciler of order-service with ORDER_TIMEOUT timeout
// and HEAL_MAX_INTERVAL healMax: orders settle within the timeout, and end
// within the README's bound, the timeout + HEAL_MAX_INTERVAL plus a sweep;
// one more minute for Cloud Scheduler's grain and another HEAL_MAX_INTERVAL
// of room make a finding.
func New(fs *firestore.Client, pub Publisher, timeout, healMax time.Duration) *Reconciler {
	return &Reconciler{FS: fs, Publisher: pub, Now: time.Now, Settle: timeout, StuckAfter: timeout + 2*healMax + time.Minute}
}

// Publisher publishes the events a repair sends again.
type Publisher interface {
	Publish(ctx context.Context, m event.Message) error
}

// Runs holds one document per reconciliation run, and under each its
// findings.
const Runs = "reconcile_runs"

// A Run's status, and its field.
const (
	RunRunning     = "running"
	RunDone        = "done"
	FieldRunStatus = "status"
)

// ErrCrashed is returned when CrashAfter stopped a run.
var ErrCrashed = errors.New("reconciliation stopped midway (test fault)")

// Run reconciles, resuming the last run if it did not finish.
func (r *Reconciler) Run(ctx context.Context) (Run, error) {
	run, ref, err := r.begin(ctx)
	if err != nil {
		return Run{}, err
	}
	r.done = 0
	for _, ph := range []struct {
		name string
		fn   func(context.Context, *Run, *firestore.DocumentRef) error
	}{{"recheck", r.recheck}, {"settled", r.settled}, {"unfinished", r.unfinished}} {
		if run.Phase != ph.name {
			continue
		}
		if err := ph.fn(ctx, &run, ref); err != nil {
			return run, err
		}
		next := map[string]string{"recheck": "settled", "settled": "unfinished", "unfinished": "done"}[ph.name]
		run.Phase, run.CursorBucket, run.CursorAt, run.CursorID = next, 0, time.Time{}, ""
		if err := r.save(ctx, ref, run); err != nil {
			return run, err
		}
	}
	run.Status, run.FinishedAt = RunDone, r.Now().UTC()
	if err := r.save(ctx, ref, run); err != nil {
		return run, err
	}
	if _, err := r.FS.Collection(StateColl).Doc(stateDoc).Set(ctx, State{Through: run.Through, LastRun: run.ID}); err != nil {
		return run, fmt.Errorf("save reconciliation cursor: %w", err)
	}
	return run, nil
}

func (r *Reconciler) save(ctx context.Context, ref *firestore.DocumentRef, run Run) error {
	if _, err := ref.Set(ctx, run); err != nil {
		return fmt.Errorf("save reconciliation run %s: %w", run.ID, err)
	}
	return nil
}

func (r *Reconciler) begin(ctx context.Context) (Run, *firestore.DocumentRef, error) {
	snaps, err := r.FS.Collection(Runs).Where(FieldRunStatus, "==", RunRunning).Limit(1).Documents(ctx).GetAll()
	if err != nil {
		return Run{}, nil, fmt.Errorf("find an unfinished reconciliation run: %w", err)
	}
	if len(snaps) == 1 {
		var run Run
		if err := snaps[0].DataTo(&run); err != nil {
			return Run{}, nil, fmt.Errorf("decode run %s: %w", snaps[0].Ref.ID, err)
		}
		run.ID = snaps[0].Ref.ID
		run.Resumed++
		return run, snaps[0].Ref, nil
	}
	var st State
	snap, err := r.FS.Collection(StateColl).Doc(stateDoc).Get(ctx)
	switch {
	case status.Code(err) == codes.NotFound:
	case err != nil:
		return Run{}, nil, fmt.Errorf("read reconciliation cursor: %w", err)
	default:
		if err := snap.DataTo(&st); err != nil {
			return Run{}, nil, fmt.Errorf("decode reconciliation cursor: %w", err)
		}
	}
	now := r.Now().UTC()
	run := Run{ID: now.Format("20060102T150405Z") + "-" + uuid.NewString()[:8], Status: RunRunning, StartedAt: now,
		From: st.Through, Through: maxTime(st.Through, now.Add(-r.Settle)), Phase: "recheck", Previous: st.LastRun, Samples: []Finding{},
		ExpireAt: now.Add(Retention)}
	ref := r.FS.Collection(Runs).Doc(run.ID)
	if _, err := ref.Create(ctx, run); err != nil {
		return Run{}, nil, fmt.Errorf("record reconciliation run: %w", err)
	}
	return run, ref, nil
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// crash is the test fault: it stops the run after CrashAfter orders.
func (r *Reconciler) crash() error {
	if r.CrashAfter > 0 && r.done == r.CrashAfter {
		return ErrCrashed
	}
	r.done++
	return nil
}

// recheck checks again every finding of the previous run that concerned a
// settled order: one that is consistent now is resolved (a repair worked);
// one that is not stays a finding.
func (r *Reconciler) recheck(ctx context.Context, run *Run, ref *firestore.DocumentRef) error {
	if run.Previous == "" {
		return nil
	}
	q := r.FS.Collection(Runs).Doc(run.Previous).Collection(FindingsSub).OrderBy(firestore.DocumentID, firestore.Asc)
	return r.pages(ctx, run, ref, q, func(_ *firestore.DocumentSnapshot) {}, func(fsnap *firestore.DocumentSnapshot) error {
		f, ok := readFinding(fsnap)
		if !ok {
			return nil // an unreadable finding of the last run: nothing to re-check
		}
		if st := records.Status(f.Status); st == records.StatusPending || st == records.StatusStopping {
			return nil // unfinished orders are listed afresh by this run
		}
		osnap, err := r.FS.Collection(records.Orders).Doc(f.OrderID).Get(ctx)
		if status.Code(err) == codes.NotFound {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read order %s: %w", f.OrderID, err)
		}
		run.Rechecked++
		consistent, err := r.check(ctx, run, ref, osnap)
		if err != nil {
			return err
		}
		if consistent {
			run.Resolved++
		}
		return nil
	})
}

// readFinding decodes a finding; ok is false for one that cannot be read.
func readFinding(snap *firestore.DocumentSnapshot) (f Finding, ok bool) {
	return f, snap.DataTo(&f) == nil && f.OrderID != ""
}

// settled checks the orders that settled in the run's window.
func (r *Reconciler) settled(ctx context.Context, run *Run, ref *firestore.DocumentRef) error {
	q := func(bucket int) firestore.Query {
		return r.FS.Collection(records.Orders).Where(records.FieldBucket, "==", bucket).
			Where(outbox.FieldUpdatedAt, ">", run.From).Where(outbox.FieldUpdatedAt, "<=", run.Through).
			OrderBy(outbox.FieldUpdatedAt, firestore.Asc).OrderBy(firestore.DocumentID, firestore.Asc)
	}
	return r.bucketPages(ctx, run, ref, q, func(last *firestore.DocumentSnapshot) {
		if t, ok := last.Data()[outbox.FieldUpdatedAt].(time.Time); ok {
			run.CursorAt = t
		}
	}, func(snap *firestore.DocumentSnapshot) error {
		var o records.Order
		if err := snap.DataTo(&o); err != nil {
			return r.unreadable(ctx, run, ref, snap.Ref.ID, "order", err)
		}
		if o.Status == records.StatusPending || o.Status == records.StatusStopping {
			run.InFlight++ // the timeout sweep owns it; listed below if it overstays
			return nil
		}
		run.Checked++
		consistent, err := r.check(ctx, run, ref, snap)
		if consistent {
			run.Consistent++
		}
		return err
	})
}

// unfinished lists the orders that have not ended long after their bound.
func (r *Reconciler) unfinished(ctx context.Context, run *Run, ref *firestore.DocumentRef) error {
	if r.StuckAfter <= 0 {
		return nil
	}
	q := func(bucket int) firestore.Query {
		return r.FS.Collection(records.Orders).Where(records.FieldBucket, "==", bucket).
			Where(records.FieldStatus, "in", []records.Status{records.StatusPending, records.StatusStopping}).
			Where(records.FieldCreatedAt, "<=", run.StartedAt.Add(-r.StuckAfter)).OrderBy(records.FieldCreatedAt, firestore.Asc).OrderBy(firestore.DocumentID, firestore.Asc)
	}
	return r.bucketPages(ctx, run, ref, q, func(last *firestore.DocumentSnapshot) {
		if t, ok := last.Data()[records.FieldCreatedAt].(time.Time); ok {
			run.CursorAt = t
		}
	}, func(snap *firestore.DocumentSnapshot) error {
		var o records.Order
		if err := snap.DataTo(&o); err != nil {
			return r.unreadable(ctx, run, ref, snap.Ref.ID, "order", err)
		}
		run.Unfinished++
		f := Finding{OrderID: snap.Ref.ID, Status: string(o.Status), PointState: "?", TicketState: "?",
			Problem: fmt.Sprintf("not ended %s after it was created (%d replays)", run.StartedAt.Sub(o.CreatedAt).Round(time.Second), o.Replays)}
		if o.GaveUp {
			f.Problem += "; replays ended: an operator must look"
		}
		return r.record(ctx, run, ref, f)
	})
}

// bucketPages runs pages on the query of every bucket of orders from the
// run's cursor bucket on (a query on a time runs once per bucket:
// records.Buckets), saving the run as it moves to the next.
func (r *Reconciler) bucketPages(ctx context.Context, run *Run, ref *firestore.DocumentRef, q func(bucket int) firestore.Query,
	cursor func(last *firestore.DocumentSnapshot), visit func(*firestore.DocumentSnapshot) error) error {
	for ; run.CursorBucket < records.Buckets; run.CursorBucket++ {
		if err := r.pages(ctx, run, ref, q(run.CursorBucket), cursor, visit); err != nil {
			return err
		}
		run.CursorAt, run.CursorID = time.Time{}, ""
		if err := r.save(ctx, ref, *run); err != nil {
			return err
		}
	}
	return nil
}

// pages runs visit on every document of q after the run's cursor, saving
// the run (counts and cursor) after every page, so a run that dies resumes
// where it was. cursor sets the run's cursor from the last document of a
// page.
func (r *Reconciler) pages(ctx context.Context, run *Run, ref *firestore.DocumentRef, q firestore.Query,
	cursor func(last *firestore.DocumentSnapshot), visit func(*firestore.DocumentSnapshot) error) error {
	for {
		pq := q.Limit(page)
		switch {
		case run.CursorID != "" && !run.CursorAt.IsZero():
			pq = pq.StartAfter(run.CursorAt, run.CursorID)
		case run.CursorID != "":
			pq = pq.StartAfter(run.CursorID)
		}
		snaps, err := pq.Documents(ctx).GetAll()
		if err != nil {
			return fmt.Errorf("reconciliation %s: list after %q: %w", run.Phase, run.CursorID, err)
		}
		for _, snap := range snaps {
			if err := r.crash(); err != nil {
				return err
			}
			if err := visit(snap); err != nil {
				return err
			}
		}
		if len(snaps) > 0 {
			last := snaps[len(snaps)-1]
			run.CursorID = last.Ref.ID
			cursor(last)
			if err := r.save(ctx, ref, *run); err != nil {
				return err
			}
		}
		if len(snaps) < page {
			return nil
		}
	}
}

// record keeps a finding: in the run's findings subcollection, and among
// the run document's samples while there is room.
func (r *Reconciler) record(ctx context.Context, run *Run, ref *firestore.DocumentRef, f Finding) error {
	f.ExpireAt = run.ExpireAt
	if _, err := ref.Collection(FindingsSub).Doc(f.OrderID).Set(ctx, f); err != nil {
		return fmt.Errorf("record finding on %s: %w", f.OrderID, err)
	}
	run.Findings++
	if f.Repair != "" {
		run.Repaired++
	}
	if len(run.Samples) < maxSamples {
		run.Samples = append(run.Samples, f)
	}
	return nil
}

// unreadable reports a document that cannot be decoded, and goes on.
func (r *Reconciler) unreadable(ctx context.Context, run *Run, ref *firestore.DocumentRef, id, what string, err error) error {
	run.Unreadable++
	return r.record(ctx, run, ref, Finding{OrderID: id, Problem: "unreadable " + what + ": " + err.Error()})
}

// check checks one settled order, repairs what it can and records a
// finding; it reports whether the order was consistent.
func (r *Reconciler) check(ctx context.Context, run *Run, ref *firestore.DocumentRef, snap *firestore.DocumentSnapshot) (bool, error) {
	var o records.Order
	if err := snap.DataTo(&o); err != nil {
		return false, r.unreadable(ctx, run, ref, snap.Ref.ID, "order", err)
	}
	pt, err := pointrecords.ReadSaga(ctx, r.FS, snap.Ref.ID)
	if saga.KindOf(err) == saga.Corrupt {
		return false, r.unreadable(ctx, run, ref, snap.Ref.ID, "point saga", err)
	}
	if err != nil {
		return false, err
	}
	tk, err := ticketrecords.ReadSaga(ctx, r.FS, snap.Ref.ID)
	if saga.KindOf(err) == saga.Corrupt {
		return false, r.unreadable(ctx, run, ref, snap.Ref.ID, "ticket saga", err)
	}
	if err != nil {
		return false, err
	}
	f := Finding{OrderID: snap.Ref.ID, Status: string(o.Status), PointState: "-", TicketState: "-"}
	consumed, granted := false, false
	if pt != nil {
		f.PointState, consumed = string(pt.State), pt.State == pointrecords.StateConsumed
	}
	if tk != nil {
		f.TicketState, granted = string(tk.State), tk.State == ticketrecords.StateGranted
	}
	switch o.Status {
	case records.StatusCompleted:
		if consumed && granted {
			return true, nil
		}
		f.Problem = "completed order without its points taken and tickets granted"
	case records.StatusFailed, records.StatusCancelled:
		if !consumed && !granted {
			return true, nil
		}
		if granted {
			f.Problem = "tickets still granted on a " + string(o.Status) + " order"
			if m, ok := o.Ran(records.StepStop); ok {
				if err := r.Publisher.Publish(ctx, m); err != nil {
					return false, fmt.Errorf("repair order %s: %w", f.OrderID, err)
				}
				f.Repair = "re-published " + string(m.Type) + " " + m.EventID
			}
		} else {
			f.Problem = "points still taken on a " + string(o.Status) + " order"
			// The ticket side's failure or cancel drives the refund.
			for _, step := range []string{ticketrecords.StepCancel, ticketrecords.StepGrant} {
				if tk == nil {
					break
				}
				if m, ok := tk.Ran(step); ok && (m.Type == saga.FailedTicket || m.Type == saga.CanceledTicket) {
					if err := r.Publisher.Publish(ctx, m); err != nil {
						return false, fmt.Errorf("repair order %s: %w", f.OrderID, err)
					}
					f.Repair = "re-published " + string(m.Type) + " " + m.EventID
					break
				}
			}
		}
	default:
		f.Problem = "unknown order status " + string(o.Status)
	}
	return false, r.record(ctx, run, ref, f)
}

// Findings returns the findings of run id, all of them.
func Findings(ctx context.Context, fs *firestore.Client, runID string) ([]Finding, error) {
	snaps, err := fs.Collection(Runs).Doc(runID).Collection(FindingsSub).Documents(ctx).GetAll()
	if err != nil {
		return nil, fmt.Errorf("read findings of run %s: %w", runID, err)
	}
	out := make([]Finding, 0, len(snaps))
	for _, s := range snaps {
		var f Finding
		if err := s.DataTo(&f); err != nil {
			f = Finding{OrderID: s.Ref.ID, Problem: "unreadable finding: " + err.Error()}
		}
		out = append(out, f)
	}
	return out, nil
}

// Handler serves the reconciliation as a task endpoint (Cloud Scheduler in
// production): it answers the run's report as JSON.
func (r *Reconciler) Handler(log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		run, err := r.Run(req.Context())
		ordermetrics.Reconciled(req.Context(), ordermetrics.Reconciliation{Failed: err != nil, Inconsistent: run.Findings - run.Unfinished - run.Unreadable,
			Unfinished: run.Unfinished, Unreadable: run.Unreadable, Repaired: run.Repaired})
		if err != nil {
			log.ErrorContext(req.Context(), "reconciliation failed", "run_id", run.ID, "error", err.Error())
			httpjson.Write(w, http.StatusInternalServerError, httpjson.Failure("reconcile_failed", "reconciliation failed; see logs"))
			return
		}
		log.InfoContext(req.Context(), "reconciliation done", "run_id", run.ID, "checked", run.Checked, "findings", run.Findings,
			"repaired", run.Repaired, "unfinished", run.Unfinished, "unreadable", run.Unreadable)
		for _, f := range run.Samples {
			log.WarnContext(req.Context(), "reconciliation finding", "run_id", run.ID, "order_id", f.OrderID, "status", f.Status, "problem", f.Problem, "repair", f.Repair)
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(run)
	})
}

// LastRuns returns the n most recent runs, newest first.
func LastRuns(ctx context.Context, fs *firestore.Client, n int) ([]Run, error) {
	snaps, err := fs.Collection(Runs).OrderBy("started_at", firestore.Desc).Limit(n).Documents(ctx).GetAll()
	if err != nil {
		return nil, fmt.Errorf("read the last reconciliation runs: %w", err)
	}
	out := make([]Run, 0, len(snaps))
	for _, s := range snaps {
		var run Run
		if err := s.DataTo(&run); err != nil {
			run = Run{Status: "unreadable"}
		}
		run.ID = s.Ref.ID
		out = append(out, run)
	}
	return out, nil
}
