package app

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/ticketsaga/saga/order-service/internal/longpoll"
	"github.com/ticketsaga/saga/order-service/internal/order"
	"github.com/ticketsaga/saga/shared/event"
	"github.com/ticketsaga/saga/shared/saga"
)

// oneOrder is a Store of one order, changed in place by Update.
type oneOrder struct {
	Store // the methods these tests do not call
	mu    sync.Mutex
	o     order.Order
}

func (s *oneOrder) Update(_ context.Context, _ string, change func(order.Order) (order.Order, bool, error)) (order.Order, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	next, changed, err := change(s.o)
	if err == nil && changed {
		s.o = next
	}
	return next, changed, err
}

type heard struct{ ended []string }

func (h *heard) Ended(_ context.Context, o order.Order) {
	h.ended = append(h.ended, string(o.Status)+"/"+o.Reason)
}
func (h *heard) Swept(context.Context, SweepReport) {}

// TestObserverHearsEachEndOnce: the metrics count an order when it becomes
// terminal, once, however often its settling event is delivered.
func TestObserverHearsEachEndOnce(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		status order.Status
		typ    saga.EventType
		source string
		reason string
		want   string
	}{
		{order.StatusPending, saga.GrantedTicket, saga.TicketService, "", "completed/"},
		{order.StatusPending, saga.RefundedPoint, saga.PointService, saga.ReasonSoldOut, "failed/sold_out"},
		{order.StatusStopping, saga.RefundedPoint, saga.PointService, saga.ReasonTimeout, "cancelled/timeout"},
	} {
		o := order.Order{ID: "o1", UserID: "u", TicketID: "t", Quantity: 1, Price: 100, Status: tc.status}
		h := &heard{}
		a := &App{Store: &oneOrder{o: o}, Polls: &longpoll.Poller{}, Log: slog.New(slog.DiscardHandler), Now: time.Now, Observe: h}
		in := event.Envelope{ID: "o1", Source: tc.source, Order: &event.Order{UserID: "u", TicketID: "t", Quantity: 1, Price: 100}}
		if tc.reason != "" {
			in.Point = &event.Section{Reason: tc.reason}
		}
		for range 3 { // a delivery and two duplicates
			if _, err := a.settle(context.Background(), tc.typ, in); err != nil {
				t.Fatalf("%s: %v", tc.typ, err)
			}
		}
		if len(h.ended) != 1 || h.ended[0] != tc.want {
			t.Errorf("%s on a %s order: heard %v, want [%s]", tc.typ, tc.status, h.ended, tc.want)
		}
	}
}
