package firestore

import (
	"context"
	"testing"

	"github.com/ticketsaga/saga/point-service/internal/app"
	"github.com/ticketsaga/saga/point-service/internal/point"
	"github.com/ticketsaga/saga/point-service/records"
	"github.com/ticketsaga/saga/shared/event"
	"github.com/ticketsaga/saga/shared/platform/emutest"
	"github.com/ticketsaga/saga/shared/saga"
)

// TestStore runs the adapter against the Firestore emulator: balances, a
// step that reads the saga and the account and writes both, and an account
// that cannot be read handed to the decision as such.
func TestStore(t *testing.T) {
	t.Parallel()
	p := emutest.New(t)
	ctx := context.Background()
	s := New(p.FS, p.Outbox(records.Sagas, saga.PointService))
	if _, err := s.Balance(ctx, "nobody"); saga.KindOf(err) != saga.NotFound {
		t.Fatalf("Balance of nobody = %v, want NotFound", err)
	}
	if err := s.SetBalance(ctx, "alice", 100); err != nil {
		t.Fatal(err)
	}
	in := event.Envelope{ID: "o1", Order: &event.Order{UserID: "alice", TicketID: "t", Quantity: 1, Price: 30}}
	m, err := s.Step(ctx, app.StepConsume, in, "alice", func(sg point.Saga, acct *point.Account, acctErr error) (point.Saga, *point.Account, saga.Outcome, error) {
		if acctErr != nil || acct == nil || acct.Balance != 100 || sg.State != point.StateNone {
			t.Errorf("decided from %+v, %+v, %v", sg, acct, acctErr)
		}
		res := point.Consume(sg, acct, "alice", 30)
		return res.Saga, res.Account, saga.Outcome{Event: saga.ConsumedPoint}, nil
	})
	if err != nil || m.Type != saga.ConsumedPoint {
		t.Fatalf("Step = %+v, %v", m, err)
	}
	if bal, err := s.Balance(ctx, "alice"); err != nil || bal != 70 {
		t.Errorf("balance %d, %v, want 70", bal, err)
	}
	rec, err := records.ReadSaga(ctx, p.FS, "o1")
	if err != nil || rec == nil || rec.State != records.StateConsumed || rec.Amount != 30 || rec.UserID != "alice" {
		t.Errorf("saga record %+v, %v", rec, err)
	}

	if _, err := p.FS.Collection(records.Accounts).Doc("bob").Set(ctx, map[string]any{"balance": "plenty"}); err != nil {
		t.Fatal(err)
	}
	in2 := event.Envelope{ID: "o2", Order: &event.Order{UserID: "bob", TicketID: "t", Quantity: 1, Price: 30}}
	_, err = s.Step(ctx, app.StepConsume, in2, "bob", func(sg point.Saga, acct *point.Account, acctErr error) (point.Saga, *point.Account, saga.Outcome, error) {
		if saga.KindOf(acctErr) != saga.Corrupt {
			t.Errorf("an unreadable account came as %+v, %v", acct, acctErr)
		}
		return point.Saga{State: point.StateFailed, UserID: "bob"}, nil, saga.Outcome{Event: saga.FailedPoint, Reason: saga.ReasonUnknownAccount}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
