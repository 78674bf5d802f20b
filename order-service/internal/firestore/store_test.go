package firestore

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"

	"github.com/ticketsaga/saga/order-service/internal/app"
	"github.com/ticketsaga/saga/order-service/internal/order"
	"github.com/ticketsaga/saga/order-service/records"
	"github.com/ticketsaga/saga/shared/event"
	"github.com/ticketsaga/saga/shared/platform/emutest"
	"github.com/ticketsaga/saga/shared/saga"
)

// policy replays a pending order 10 s after its creation.
var policy = order.HealPolicy{Pending: 10 * time.Second, First: time.Minute, Max: time.Minute, GiveUp: time.Hour}

func newOrder(id string, created time.Time) order.Order {
	o := order.New(id, order.Request{UserID: "alice", TicketID: "t", Quantity: 1, Price: 10}, created, policy)
	o.History = []order.Entry{{EventType: saga.StartedOrder, Service: saga.OrderService, At: created}}
	return o
}

func place(t *testing.T, s *Store, o order.Order, fingerprint string) (app.Placed, error) {
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
	if p, err := place(t, s, newOrder("o1", now), "fp"); err != nil || !p.Created {
		t.Fatalf("create: %+v %v", p, err)
	}
	if got := p.Published(t); len(got) != 1 || got[0].Attributes[saga.AttrEventType] != string(saga.StartedOrder) {
		t.Fatalf("published %v", got)
	}
	if p, err := place(t, s, newOrder("o1", now), "other"); err != nil || p.Created || p.Order.ID != "o1" || p.Fingerprint != "fp" {
		t.Fatalf("replay: %+v %v", p, err)
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
// sent when due, and not before: started-order for a pending order,
// stopped-order for a stopping one.
func TestSweep(t *testing.T) {
	t.Parallel()
	p := emutest.New(t)
	ctx := context.Background()
	s := New(p.FS, p.Outbox(records.Orders, saga.OrderService))
	now := time.Now().UTC()
	clock := now
	a := &app.App{Store: s, Log: slog.New(slog.DiscardHandler), Now: func() time.Time { return clock },
		Config: app.Config{Timeout: 30 * time.Second, SweepBudget: time.Minute, Heal: policy}}
	for id, age := range map[string]time.Duration{"old1": time.Hour, "old2": time.Hour, "young": time.Second, "slow": 15 * time.Second} {
		if _, err := place(t, s, newOrder(id, now.Add(-age)), id); err != nil {
			t.Fatal(err)
		}
	}
	p.Published(t)
	rep, err := a.Sweep(ctx)
	if err != nil || rep.Stopped != 2 || rep.Failed != 0 || rep.Replayed != 1 || rep.More {
		t.Fatalf("stop = %+v, %v", rep, err)
	}
	published := p.Published(t)
	if got := count(published, saga.StoppedOrder, false); got != 2 {
		t.Fatalf("published %d stopped-orders, want 2", got)
	}
	if got := count(published, saga.StartedOrder, true); got != 1 || len(published) != 3 {
		t.Fatalf("published %d replays of started-order (want 1, of the slow order) and %d events (want 3)", got, len(published))
	}
	if o, _ := s.Get(ctx, "young"); o.Status != order.StatusPending || o.Recovery.Replays != 0 {
		t.Fatalf("a young order was stopped or replayed: %+v", o)
	}
	if o, _ := s.Get(ctx, "slow"); o.Status != order.StatusPending || o.Recovery.Replays != 1 || !o.Recovery.NextReplay.Equal(now.Add(20*time.Second).Truncate(time.Microsecond)) {
		t.Fatalf("the slow order after its replay: %+v, want its next replay 20 s after the first", o)
	}
	clock = now.Add(2 * time.Minute)
	rep, err = a.Sweep(ctx)
	if err != nil || rep.Replayed != 2 || rep.Stopped != 2 {
		t.Fatalf("sweep when the replays are due = %+v, %v", rep, err)
	}
	if replays := count(p.Published(t), saga.StoppedOrder, true); replays != 2 {
		t.Fatalf("%d replays published, want 2", replays)
	}
	if o, _ := s.Get(ctx, "old1"); o.Recovery.Replays != 1 || !o.Recovery.NextReplay.After(clock) {
		t.Fatalf("after a replay: %+v", o.Recovery)
	}
}

// count counts the published events of type t that are replays, or not.
func count(published []*pubsubpb.PubsubMessage, t saga.EventType, replays bool) int {
	n := 0
	for _, m := range published {
		if m.Attributes[saga.AttrEventType] == string(t) && (m.Attributes[saga.AttrReplay] != "") == replays {
			n++
		}
	}
	return n
}
