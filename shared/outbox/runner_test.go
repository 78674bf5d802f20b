package outbox_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/ticketsaga/saga/shared/emutest"
	"github.com/ticketsaga/saga/shared/event"
	"github.com/ticketsaga/saga/shared/outbox"
	"github.com/ticketsaga/saga/shared/saga"
)

// record is a saga document of a test service.
type record struct {
	outbox.Outbox
	Count int `firestore:"count"`
}

type runner = outbox.Runner[record, *record]

func envelope(id string) event.Envelope {
	return event.Envelope{ID: id, Order: &event.Order{UserID: "u", TicketID: "t", Quantity: 1, Price: 10}}
}

// TestRunnerRunsAStepOnce: the first run commits the document with the
// step's event and publishes it; a duplicate changes and publishes
// nothing and returns the same event; a replay publishes it again, marked;
// a step that fails writes nothing.
func TestRunnerRunsAStepOnce(t *testing.T) {
	t.Parallel()
	p := emutest.New(t)
	ctx := context.Background()
	steps := p.Outbox("test_sagas", saga.PointService)
	r := runner{Steps: steps}
	runs := 0
	step := func(tx *firestore.Transaction, rec *record, _ []*firestore.DocumentSnapshot) (saga.Outcome, error) {
		runs++
		rec.Count++
		return saga.Outcome{Event: saga.ConsumedPoint}, nil
	}
	first, err := r.Run(ctx, "consume", envelope("o1"), nil, step)
	if err != nil || first.Type != saga.ConsumedPoint || first.EventID == "" {
		t.Fatalf("first run = %+v, %v", first, err)
	}
	if got := p.Published(t); len(got) != 1 || got[0].Attributes[saga.AttrEventID] != first.EventID {
		t.Fatalf("published %v, want the step's event once", got)
	}
	// Once marked published, a duplicate publishes nothing (until then it
	// publishes the pending event again, which consumers absorb).
	waitMarked(t, p, "o1")
	again, err := r.Run(ctx, "consume", envelope("o1"), nil, step)
	if err != nil || again.EventID != first.EventID || runs != 1 {
		t.Fatalf("duplicate = %+v, %v after %d runs", again, err, runs)
	}
	if got := p.Published(t); len(got) != 0 {
		t.Fatalf("a duplicate published %d events", len(got))
	}
	replay := envelope("o1")
	replay.Replay = true
	if _, err := r.Run(ctx, "consume", replay, nil, step); err != nil || runs != 1 {
		t.Fatalf("replay: %v after %d runs", err, runs)
	}
	got := p.Published(t)
	if len(got) != 1 || got[0].Attributes[saga.AttrEventID] != first.EventID || got[0].Attributes[saga.AttrReplay] == "" {
		t.Fatalf("a replay published %v, want the stored event marked as a replay", got)
	}
	rec, err := outbox.Read[record](ctx, p.FS, "test_sagas", "o1")
	if err != nil || rec == nil || rec.Count != 1 || len(rec.Steps) != 1 {
		t.Fatalf("stored %+v, %v", rec, err)
	}

	boom := errors.New("decided against")
	if _, err := r.Run(ctx, "consume", envelope("o2"), nil, func(*firestore.Transaction, *record, []*firestore.DocumentSnapshot) (saga.Outcome, error) {
		return saga.Outcome{}, boom
	}); !errors.Is(err, boom) {
		t.Fatalf("failing step = %v", err)
	}
	if rec, err := outbox.Read[record](ctx, p.FS, "test_sagas", "o2"); err != nil || rec != nil {
		t.Fatalf("a failed step stored %+v, %v", rec, err)
	}
}

// TestRunnerRefusesACorruptRecord: a saga document that cannot be decoded
// is a saga.Corrupt error (permanent), and the step does not run.
func TestRunnerRefusesACorruptRecord(t *testing.T) {
	t.Parallel()
	p := emutest.New(t)
	ctx := context.Background()
	if _, err := p.FS.Collection("test_sagas").Doc("o1").Set(ctx, map[string]any{"count": "many"}); err != nil {
		t.Fatal(err)
	}
	r := runner{Steps: p.Outbox("test_sagas", saga.PointService)}
	_, err := r.Run(ctx, "consume", envelope("o1"), nil, func(*firestore.Transaction, *record, []*firestore.DocumentSnapshot) (saga.Outcome, error) {
		t.Fatal("the step ran on a corrupt record")
		return saga.Outcome{}, nil
	})
	if saga.KindOf(err) != saga.Corrupt {
		t.Fatalf("Run on a corrupt record = %v, want a saga.Corrupt error", err)
	}
}

// TestSweepPublishesWhatACrashLeft: an event committed but never published
// (the process died between the two) is published by the sweep, once.
func TestSweepPublishesWhatACrashLeft(t *testing.T) {
	t.Parallel()
	p := emutest.New(t)
	ctx := context.Background()
	steps := p.Outbox("test_sagas", saga.PointService)
	steps.AfterCommit = func(string) { panic("crash") }
	r := runner{Steps: steps}
	func() {
		defer func() { _ = recover() }()
		_, _ = r.Run(ctx, "consume", envelope("o1"), nil, func(_ *firestore.Transaction, rec *record, _ []*firestore.DocumentSnapshot) (saga.Outcome, error) {
			return saga.Outcome{Event: saga.ConsumedPoint}, nil
		})
	}()
	if got := p.Published(t); len(got) != 0 {
		t.Fatalf("published %d events before the sweep", len(got))
	}
	res, err := steps.Sweep(ctx, []string{"consume"})
	if err != nil || res.Republished != 1 || res.Failed != 0 {
		t.Fatalf("sweep = %+v, %v", res, err)
	}
	if got := p.Published(t); len(got) != 1 {
		t.Fatalf("the sweep published %d events, want 1", len(got))
	}
	if res, err := steps.Sweep(ctx, []string{"consume"}); err != nil || res.Republished != 0 {
		t.Fatalf("second sweep = %+v, %v", res, err)
	}
}

// waitMarked waits until order id's events are marked published.
func waitMarked(t *testing.T, p *emutest.Project, id string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		rec, err := outbox.Read[record](context.Background(), p.FS, "test_sagas", id)
		if err != nil {
			t.Fatal(err)
		}
		if rec != nil && len(rec.Pending) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not marked published within 5s: %+v", id, rec)
		}
		time.Sleep(20 * time.Millisecond) // polling Firestore for a condition
	}
}
