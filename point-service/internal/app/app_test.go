package app

import (
	"context"
	"errors"
	"log/slog"
	"testing"

	"github.com/ticketsaga/saga/point-service/internal/point"
	"github.com/ticketsaga/saga/shared/event"
	"github.com/ticketsaga/saga/shared/saga"
)

// fakeStore runs a step's decision on a saga and an account held in
// memory, as the Firestore store does in a transaction.
type fakeStore struct {
	Store
	saga    point.Saga
	acct    *point.Account
	acctErr error
	steps   int
}

func (f *fakeStore) Step(_ context.Context, _ string, _ event.Envelope, _ string, decide Decide) (event.Message, error) {
	f.steps++
	s, acct, out, err := decide(f.saga, f.acct, f.acctErr)
	if err != nil {
		return event.Message{}, err
	}
	f.saga = s
	if acct != nil {
		f.acct = acct
	}
	return event.Message{Type: out.Event, Attributes: map[string]string{"reason": out.Reason}}, nil
}

func order(price int64) event.Envelope {
	return event.Envelope{ID: "o1", Order: &event.Order{UserID: "u1", TicketID: "t1", Quantity: 1, Price: price}}
}

// TestPointSteps: what each step decides from what it reads, and which
// failures are permanent.
func TestPointSteps(t *testing.T) {
	t.Parallel()
	if err := saga.CheckSteps(Table, (&App{}).Steps()); err != nil {
		t.Fatal(err)
	}
	corrupt := saga.CorruptRecord("account u1", errors.New("bad field"))
	for _, c := range []struct {
		name      string
		cause     saga.EventType
		in        event.Envelope
		store     fakeStore
		want      saga.EventType
		reason    string
		balance   int64
		permanent bool
	}{
		{name: "pays", cause: saga.StartedOrder, in: order(30), store: fakeStore{acct: &point.Account{Balance: 100}}, want: saga.ConsumedPoint, balance: 70},
		{name: "too poor", cause: saga.StartedOrder, in: order(300), store: fakeStore{acct: &point.Account{Balance: 100}}, want: saga.FailedPoint, reason: saga.ReasonInsufficientPoints, balance: 100},
		{name: "unreadable account fails the order", cause: saga.StartedOrder, in: order(30), store: fakeStore{acctErr: corrupt}, want: saga.FailedPoint, reason: saga.ReasonUnknownAccount},
		{name: "refund gives back", cause: saga.CanceledTicket, in: order(30),
			store: fakeStore{saga: point.Saga{State: point.StateConsumed, UserID: "u1", Amount: 30}, acct: &point.Account{Balance: 70}},
			want:  saga.RefundedPoint, reason: saga.ReasonTimeout, balance: 100},
		{name: "null refund needs no account", cause: saga.FailedTicket,
			in:    event.Envelope{ID: "o1", Order: &event.Order{UserID: "u1"}, Ticket: &event.Section{Reason: saga.ReasonSoldOut}},
			store: fakeStore{acctErr: corrupt}, want: saga.RefundedPoint, reason: saga.ReasonSoldOut},
		{name: "failed-ticket without a reason is poison", cause: saga.FailedTicket, in: order(30), permanent: true},
		{name: "refund for another user is refused", cause: saga.CanceledTicket, in: order(30),
			store: fakeStore{saga: point.Saga{State: point.StateConsumed, UserID: "u2", Amount: 30}}, permanent: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			store := c.store
			a := &App{Store: &store, Log: slog.New(slog.DiscardHandler)}
			m, err := a.Steps()[Table[c.cause]](context.Background(), c.cause, c.in)
			if c.permanent {
				if !saga.IsPermanent(err) {
					t.Fatalf("err = %v, want a permanent error", err)
				}
				return
			}
			if err != nil || m.Type != c.want || m.Attributes["reason"] != c.reason {
				t.Fatalf("= %s %q %v, want %s %q", m.Type, m.Attributes["reason"], err, c.want, c.reason)
			}
			if store.acct != nil && store.acct.Balance != c.balance {
				t.Errorf("balance %d, want %d", store.acct.Balance, c.balance)
			}
		})
	}
}

// TestSetBalanceRange: balances outside 0..2^53-1 are refused before the
// store is touched.
func TestSetBalanceRange(t *testing.T) {
	t.Parallel()
	a := &App{Store: &fakeStore{}}
	for _, b := range []int64{-1, saga.MaxAmount + 1} {
		if err := a.SetBalance(context.Background(), "u1", b); saga.KindOf(err) != saga.Invalid {
			t.Errorf("SetBalance(%d) = %v, want Invalid", b, err)
		}
	}
}
