package outbox_test

import (
	"context"
	"errors"
	"testing"

	"cloud.google.com/go/firestore"

	"github.com/ticketsaga/saga/shared/event"
	"github.com/ticketsaga/saga/shared/outbox"
	"github.com/ticketsaga/saga/shared/platform/emutest"
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
// step's event and publishes it; a duplicate changes nothing and publishes
// the same event again (nothing records that it went out), unmarked; a
// replay publishes it marked as a replay; a step that fails writes nothing.
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
	again, err := r.Run(ctx, "consume", envelope("o1"), nil, step)
	if err != nil || again.EventID != first.EventID || runs != 1 {
		t.Fatalf("duplicate = %+v, %v after %d runs", again, err, runs)
	}
	if got := p.Published(t); len(got) != 1 || got[0].Attributes[saga.AttrEventID] != first.EventID || got[0].Attributes[saga.AttrReplay] != "" {
		t.Fatalf("a duplicate published %v, want the stored event once more, not marked", got)
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

// TestARedeliveryPublishesWhatACrashLeft: an event committed but never
// published (the process died between the two) goes out when the step's
// input comes again (Pub/Sub redelivers the unacked push), once, without
// the step running again; the crash hook is not called again, since
// nothing was committed.
func TestARedeliveryPublishesWhatACrashLeft(t *testing.T) {
	t.Parallel()
	p := emutest.New(t)
	ctx := context.Background()
	steps := p.Outbox("test_sagas", saga.PointService)
	steps.AfterCommit = func(string) { panic("crash") }
	r := runner{Steps: steps}
	runs := 0
	step := func(_ *firestore.Transaction, rec *record, _ []*firestore.DocumentSnapshot) (saga.Outcome, error) {
		runs++
		return saga.Outcome{Event: saga.ConsumedPoint}, nil
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("the step did not crash after its commit")
			}
		}()
		_, _ = r.Run(ctx, "consume", envelope("o1"), nil, step)
	}()
	if got := p.Published(t); len(got) != 0 {
		t.Fatalf("published %d events before the redelivery", len(got))
	}
	m, err := r.Run(ctx, "consume", envelope("o1"), nil, step)
	if err != nil || runs != 1 {
		t.Fatalf("redelivery = %v after %d runs", err, runs)
	}
	if got := p.Published(t); len(got) != 1 || got[0].Attributes[saga.AttrEventID] != m.EventID {
		t.Fatalf("the redelivery published %v, want the stored event once", got)
	}
}
