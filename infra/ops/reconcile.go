package ops

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

	"github.com/ticketsaga/saga/shared/event"
)

// Finding is an order whose records across the services disagree.
type Finding struct {
	OrderID     string `firestore:"order_id" json:"order_id"`
	Status      string `firestore:"status" json:"status"`
	PointState  string `firestore:"point_state" json:"point_state"`
	TicketState string `firestore:"ticket_state" json:"ticket_state"`
	Problem     string `firestore:"problem" json:"problem"`
	// Repair is what the run did: the event it re-published, or "" when
	// the problem needs a person.
	Repair string `firestore:"repair" json:"repair,omitempty"`
}

// Run is one reconciliation run, as recorded in reconcile_runs.
type Run struct {
	ID         string    `firestore:"-" json:"run_id"`
	Status     string    `firestore:"status" json:"status"` // running, done
	StartedAt  time.Time `firestore:"started_at" json:"started_at"`
	FinishedAt time.Time `firestore:"finished_at" json:"finished_at"`
	Cursor     string    `firestore:"cursor" json:"-"`
	Resumed    int       `firestore:"resumed" json:"resumed"`
	Checked    int       `firestore:"checked" json:"checked"`
	Consistent int       `firestore:"consistent" json:"consistent"`
	InFlight   int       `firestore:"in_flight" json:"in_flight"`
	Findings   []Finding `firestore:"findings" json:"findings"`
	Repaired   int       `firestore:"repaired" json:"repaired"`
}

// Reconciler checks every settled order against the point and ticket
// records: completed means points taken and tickets granted; failed or
// cancelled means net zero. It repairs what it can by re-publishing the
// stored event that drives the missing step (consumers absorb a repeat), so
// running it twice, or again after a crash midway, changes nothing more.
type Reconciler struct {
	FS        *firestore.Client
	Publisher publisher
	Now       func() time.Time
	// Settle: orders updated more recently than this are left alone, as
	// their compensations may still be in flight.
	Settle time.Duration
	// CrashAfter, for tests, stops a run after this many orders, as a
	// crash would, leaving it "running" to be resumed.
	CrashAfter int
}

const page = 200

// ErrCrashed is returned when CrashAfter stopped a run.
var ErrCrashed = errors.New("reconciliation stopped midway (test fault)")

// Run reconciles every order, resuming the last run if it did not finish.
func (r *Reconciler) Run(ctx context.Context) (Run, error) {
	run, ref, err := r.begin(ctx)
	if err != nil {
		return Run{}, err
	}
	cutoff := r.Now().Add(-r.Settle)
	done := 0
	for {
		q := r.FS.Collection(Orders).OrderBy(firestore.DocumentID, firestore.Asc).Limit(page)
		if run.Cursor != "" {
			q = q.StartAfter(run.Cursor)
		}
		snaps, err := q.Documents(ctx).GetAll()
		if err != nil {
			return run, fmt.Errorf("list orders after %q: %w", run.Cursor, err)
		}
		for _, snap := range snaps {
			if r.CrashAfter > 0 && done == r.CrashAfter {
				return run, ErrCrashed
			}
			if err := r.check(ctx, &run, snap, cutoff); err != nil {
				return run, err
			}
			run.Cursor = snap.Ref.ID
			done++
		}
		// The cursor and counts are saved after every page, so a crashed
		// run resumes where it was.
		if _, err := ref.Set(ctx, run); err != nil {
			return run, fmt.Errorf("save reconciliation run %s: %w", run.ID, err)
		}
		if len(snaps) < page {
			break
		}
	}
	run.Status, run.FinishedAt = "done", r.Now().UTC()
	if _, err := ref.Set(ctx, run); err != nil {
		return run, fmt.Errorf("finish reconciliation run %s: %w", run.ID, err)
	}
	return run, nil
}

func (r *Reconciler) begin(ctx context.Context) (Run, *firestore.DocumentRef, error) {
	snaps, err := r.FS.Collection(Runs).Where("status", "==", "running").Limit(1).Documents(ctx).GetAll()
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
	run := Run{ID: r.Now().UTC().Format("20060102T150405Z") + "-" + uuid.NewString()[:8], Status: "running", StartedAt: r.Now().UTC(), Findings: []Finding{}}
	ref := r.FS.Collection(Runs).Doc(run.ID)
	if _, err := ref.Create(ctx, run); err != nil {
		return Run{}, nil, fmt.Errorf("record reconciliation run: %w", err)
	}
	return run, ref, nil
}

func (r *Reconciler) check(ctx context.Context, run *Run, snap *firestore.DocumentSnapshot, cutoff time.Time) error {
	var o sagaDoc
	if err := snap.DataTo(&o); err != nil {
		run.Findings = append(run.Findings, Finding{OrderID: snap.Ref.ID, Problem: "undecodable order: " + err.Error()})
		return nil
	}
	run.Checked++
	if o.UpdatedAt.After(cutoff) || o.Status == "pending" || o.Status == "stopping" {
		// Still moving: the timeout sweep and the outbox own it.
		run.InFlight++
		return nil
	}
	pt, err := getSaga(ctx, r.FS, PointSagas, snap.Ref.ID)
	if err != nil {
		return err
	}
	tk, err := getSaga(ctx, r.FS, TicketSagas, snap.Ref.ID)
	if err != nil {
		return err
	}
	f := Finding{OrderID: snap.Ref.ID, Status: o.Status, PointState: state(pt), TicketState: state(tk)}
	switch o.Status {
	case "completed":
		if f.PointState == "consumed" && f.TicketState == "granted" {
			run.Consistent++
			return nil
		}
		f.Problem = "completed order without its points taken and tickets granted"
	case "failed", "cancelled":
		pointZero := f.PointState != "consumed"
		ticketZero := f.TicketState != "granted"
		if pointZero && ticketZero {
			run.Consistent++
			return nil
		}
		switch {
		case !ticketZero:
			f.Problem = "tickets still granted on a " + o.Status + " order"
			if m, ok := o.Steps["stop"]; ok {
				if err := r.Publisher.Publish(ctx, m); err != nil {
					return fmt.Errorf("repair order %s: %w", f.OrderID, err)
				}
				f.Repair = "re-published " + string(m.Type) + " " + m.EventID
			}
		default:
			f.Problem = "points still taken on a " + o.Status + " order"
			// The ticket side's failure or cancel drives the refund.
			for _, step := range []string{"cancel", "grant"} {
				if m, ok := tk.stepEvent(step); ok && (m.Type == event.FailedTicket || m.Type == event.CanceledTicket) {
					if err := r.Publisher.Publish(ctx, m); err != nil {
						return fmt.Errorf("repair order %s: %w", f.OrderID, err)
					}
					f.Repair = "re-published " + string(m.Type) + " " + m.EventID
					break
				}
			}
		}
	default:
		f.Problem = "unknown order status " + o.Status
	}
	if f.Repair != "" {
		run.Repaired++
	}
	run.Findings = append(run.Findings, f)
	return nil
}

func state(d *sagaDoc) string {
	if d == nil {
		return "-"
	}
	return d.State
}

func (d *sagaDoc) stepEvent(step string) (event.Message, bool) {
	if d == nil {
		return event.Message{}, false
	}
	m, ok := d.Steps[step]
	return m, ok
}

// Handler serves the reconciliation as a task endpoint (Cloud Scheduler in
// production): it answers the run's report as JSON.
func (r *Reconciler) Handler(log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		run, err := r.Run(req.Context())
		if err != nil {
			log.ErrorContext(req.Context(), "reconciliation failed", "run_id", run.ID, "error", err.Error())
			http.Error(w, `{"error":{"code":"reconcile_failed","message":"reconciliation failed; see logs"}}`, http.StatusInternalServerError)
			return
		}
		log.InfoContext(req.Context(), "reconciliation done", "run_id", run.ID, "checked", run.Checked, "findings", len(run.Findings), "repaired", run.Repaired)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(run)
	})
}
