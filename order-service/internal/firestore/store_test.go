package firestore

import (
	"context"
	"testing"
	"time"

	"github.com/ticketsaga/saga/order-service/internal/app"
	"github.com/ticketsaga/saga/order-service/internal/order"
	"github.com/ticketsaga/saga/order-service/records"
	"github.com/ticketsaga/saga/shared/emutest"
	"github.com/ticketsaga/saga/shared/event"
	"github.com/ticketsaga/saga/shared/saga"
)

func newOrder(id string, created time.Time) order.Order {
	return order.Order{ID: id, UserID: "alice", TicketID: "t", Quantity: 1, Price: 10, Status: order.StatusPending, CreatedAt: created, UpdatedAt: created,
		History: []order.Entry{{EventType: saga.StartedOrder, Service: saga.OrderService, At: created}}}
}

func place(t *testing.T, s *Store, o order.Order, fingerprint string) (order.Order, bool, error) {
	t.Helper()
	start, err := event.NewMessage(app.Envelope(o), saga.StartedOrder, saga.OrderService, "ev-"+o.ID, "", o.CreatedAt)
	if err != nil {
		t.Fatal(err)
	}
	return s.Create(context.Background(), o, fingerprint, start)
}

// TestStore runs the adapter against the Firestore emulator: creating an
// order publishes its started-order and an Idempotency-Key replay finds it;
// an update in a transaction; the listener hearing the order end.
func TestStore(t *testing.T) {
	t.Parallel()
	p := emutest.New(t)
	ctx := context.Background()
	s := New(p.FS, p.Outbox(records.Orders, saga.OrderService))
	now := time.Now().UTC()
	if _, created, err := place(t, s, newOrder("o1", now), "fp"); err != nil || !created {
		t.Fatalf("create: %v %v", created, err)
	}
	if got := p.Published(t); len(got) != 1 || got[0].Attributes[saga.AttrEventType] != string(saga.StartedOrder) {
		t.Fatalf("published %v", got)
	}
	if o, created, err := place(t, s, newOrder("o1", now), "fp"); err != nil || created || o.ID != "o1" {
		t.Fatalf("replay: %+v %v %v", o, created, err)
	}
	if _, _, err := place(t, s, newOrder("o1", now), "other"); saga.KindOf(err) != saga.Unprocessable {
		t.Fatalf("key reused = %v, want Unprocessable", err)
	}
	if _, err := s.Get(ctx, "none"); saga.KindOf(err) != saga.NotFound {
		t.Fatalf("Get(none) = %v", err)
	}

	updates, stop := s.Listen(ctx, "o1")
	defer stop()
	if u := <-updates; u.Err != nil || u.Order.Status != order.StatusPending {
		t.Fatalf("listener first heard %+v", u)
	}
	out, changed, err := s.Update(ctx, "o1", func(o order.Order) (order.Order, bool, error) {
		next, changed := order.Apply(o, saga.GrantedTicket, "", time.Now().UTC())
		return next, changed, nil
	})
	if err != nil || !changed || out.Status != order.StatusCompleted {
		t.Fatalf("update = %+v %v %v", out, changed, err)
	}
	if u := <-updates; u.Err != nil || u.Order.Status != order.StatusCompleted {
		t.Fatalf("listener then heard %+v", u)
	}
	if o, err := s.Get(ctx, "o1"); err != nil || o.Status != order.StatusCompleted || len(o.History) != 1 {
		t.Fatalf("stored %+v, %v", o, err)
	}
}

// TestSweep: the stop takes only expired pending orders, with one
// conditional write each and their stopped-order published; a replay is
// sent when due, and not before.
func TestSweep(t *testing.T) {
	t.Parallel()
	p := emutest.New(t)
	ctx := context.Background()
	s := New(p.FS, p.Outbox(records.Orders, saga.OrderService))
	now := time.Now().UTC()
	policy := order.HealPolicy{First: time.Minute, Max: time.Minute, GiveUp: time.Hour}
	for id, age := range map[string]time.Duration{"old1": time.Hour, "old2": time.Hour, "young": time.Second} {
		if _, _, err := place(t, s, newOrder(id, now.Add(-age)), id); err != nil {
			t.Fatal(err)
		}
	}
	p.Published(t)
	deadline := time.Now().Add(time.Minute)
	res, err := s.StopExpired(ctx, now, 30*time.Second, policy, deadline)
	if err != nil || res.Done != 2 || res.Failed != 0 || res.More {
		t.Fatalf("stop = %+v, %v", res, err)
	}
	if got := p.Published(t); len(got) != 2 || got[0].Attributes[saga.AttrEventType] != string(saga.StoppedOrder) {
		t.Fatalf("published %d events", len(got))
	}
	if o, _ := s.Get(ctx, "young"); o.Status != order.StatusPending {
		t.Fatalf("a young order was stopped: %+v", o)
	}
	if res, err := s.Heal(ctx, now, policy, deadline); err != nil || res.Done != 0 {
		t.Fatalf("heal before the first replay is due = %+v, %v", res, err)
	}
	res, err = s.Heal(ctx, now.Add(2*time.Minute), policy, deadline)
	if err != nil || res.Done != 2 {
		t.Fatalf("heal when due = %+v, %v", res, err)
	}
	got := p.Published(t)
	if len(got) != 2 || got[0].Attributes[saga.AttrReplay] == "" {
		t.Fatalf("replays published: %v", got)
	}
	if o, _ := s.Get(ctx, "old1"); o.Recovery.Replays != 1 || !o.Recovery.NextReplay.After(now.Add(2*time.Minute)) {
		t.Fatalf("after a replay: %+v", o.Recovery)
	}
}
