// Package memory runs order-service on documents held in memory: the same
// use cases, step table and push routing as on Firestore, for the protocol
// model (modelcheck). It keeps documents and decides nothing: every rule
// is the application's and the domain's.
package memory

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/ticketsaga/saga/order-service/internal/app"
	"github.com/ticketsaga/saga/order-service/internal/longpoll"
	"github.com/ticketsaga/saga/order-service/internal/order"
	"github.com/ticketsaga/saga/order-service/records"
	"github.com/ticketsaga/saga/order-service/service"
	"github.com/ticketsaga/saga/shared/event"
	"github.com/ticketsaga/saga/shared/outbox"
	"github.com/ticketsaga/saga/shared/push"
	"github.com/ticketsaga/saga/shared/saga"
)

// Service is order-service in memory.
type Service struct {
	orders *outbox.Memory[records.Order, *records.Order]
	cfg    service.Config
	push   push.Local
	app    *app.App
}

// New returns order-service in env, configured by cfg (its timeout and
// self-healing).
func New(env outbox.Env, cfg service.Config) *Service {
	return build(&outbox.Memory[records.Order, *records.Order]{Service: saga.OrderService, Env: env, Copy: records.Order.Copy}, cfg)
}

func build(orders *outbox.Memory[records.Order, *records.Order], cfg service.Config) *Service {
	s := &Service{orders: orders, cfg: cfg}
	st := store{s}
	s.app = &app.App{Store: st, Log: slog.New(slog.DiscardHandler), Now: orders.Now,
		Polls:  &longpoll.Poller{Listen: st.listen, Get: st.Get},
		Config: app.Config{Timeout: cfg.OrderTimeout, Heal: cfg.Heal, SweepBudget: cfg.SweepBudget}}
	s.push = push.NewLocal(app.Table, s.app.Steps())
	return s
}

// Clone returns a copy of s in env.
func (s *Service) Clone(env outbox.Env) *Service { return build(s.orders.Clone(env), s.cfg) }

// Order is what the buyer is answered about one order.
type Order struct {
	ID, UserID, TicketID string
	Quantity, Price      int64
	Status, Reason       string
	Terminal             bool
}

func view(o order.Order) Order {
	return Order{ID: o.ID, UserID: o.UserID, TicketID: o.TicketID, Quantity: o.Quantity, Price: o.Price,
		Status: string(o.Status), Reason: o.Reason, Terminal: o.Status.Terminal()}
}

// Place is POST /orders with an Idempotency-Key and wait=0s, by buyer uid.
func (s *Service) Place(ctx context.Context, uid, key, ticketID string, quantity, price int64) (Order, error) {
	o, err := s.app.Place(ctx, order.Request{UserID: uid, TicketID: ticketID, Quantity: quantity, Price: price}, key, app.Wait{})
	return view(o), err
}

// Get is GET /orders/{id} with wait=0s, by buyer uid.
func (s *Service) Get(ctx context.Context, uid, id string) (Order, error) {
	o, err := s.app.Get(ctx, uid, id, app.Wait{})
	return view(o), err
}

// Deliver hands m to the push endpoint: nil when it is acked.
func (s *Service) Deliver(ctx context.Context, m event.Message) error {
	return s.push.Deliver(ctx, m)
}

// Sweep is /tasks/sweep: timeouts and self-healing replays.
func (s *Service) Sweep(ctx context.Context) error {
	_, err := s.app.Sweep(ctx)
	return err
}

// EachOrder calls fn with every order as stored, by id, to read.
func (s *Service) EachOrder(fn func(id string, rec *records.Order)) { s.orders.Each(fn) }

// store is app.Store on the service's documents.
type store struct{ s *Service }

func (st store) Create(ctx context.Context, o order.Order, fingerprint string, start event.Message) (app.Placed, error) {
	if have, ok := st.s.orders.Get(o.ID); ok {
		placed := app.Placed{Order: have.ToDomain(o.ID), Fingerprint: have.Fingerprint}
		if stored, ran := have.Ran(app.StepStart); ran {
			placed.Start = &stored
		}
		return placed, nil
	}
	var rec records.Order
	rec.FromDomain(o)
	rec.Fingerprint = fingerprint
	rec.Record(app.StepStart, start, o.UpdatedAt)
	st.s.orders.Put(o.ID, rec)
	return app.Placed{Order: o, Created: true}, st.Publish(ctx, start)
}

func (st store) Publish(ctx context.Context, m event.Message) error {
	return st.s.orders.Publish(ctx, m)
}

func (st store) Get(_ context.Context, id string) (order.Order, error) {
	rec, ok := st.s.orders.Get(id)
	if !ok {
		return order.Order{}, saga.E(saga.NotFound, "order_not_found", "no order %s", id)
	}
	return rec.ToDomain(id), nil
}

func (st store) Update(ctx context.Context, id string, change func(order.Order) (order.Order, bool, error)) (order.Order, bool, error) {
	rec, ok := st.s.orders.Get(id)
	if !ok {
		return order.Order{}, false, saga.E(saga.NotFound, "order_not_found", "no order %s", id)
	}
	out, changed, err := change(rec.ToDomain(id))
	if err != nil || !changed {
		return out, false, err
	}
	rec.FromDomain(out)
	st.s.orders.Put(id, rec)
	return out, true, nil
}

func (st store) StopExpired(ctx context.Context, cutoff time.Time, stop app.Stop, _ time.Time) (app.SweepResult, error) {
	var res app.SweepResult
	for _, id := range st.s.orders.IDs() {
		rec, _ := st.s.orders.Get(id)
		if rec.Status != order.StatusPending || rec.CreatedAt.After(cutoff) {
			continue
		}
		next, msg, ok, err := stop(rec.ToDomain(id))
		if err != nil {
			res.Failed++
			res.Errors = append(res.Errors, err)
		}
		if !ok {
			continue
		}
		rec.FromDomain(next)
		rec.Record(app.StepStop, msg, next.UpdatedAt)
		st.s.orders.Put(id, rec)
		res.Done++
		if err := st.Publish(ctx, msg); err != nil {
			res.Errors = append(res.Errors, fmt.Errorf("order %s: stopped, publish left to the order's replay: %w", id, err))
		}
	}
	return res, nil
}

func (st store) Heal(ctx context.Context, now time.Time, heal app.Heal, _ time.Time) (app.SweepResult, error) {
	var res app.SweepResult
	for _, id := range st.s.orders.IDs() {
		rec, _ := st.s.orders.Get(id)
		if rec.NextReplay == nil || rec.NextReplay.After(now) {
			continue
		}
		step, err := heal(rec.ToDomain(id), rec.Steps)
		switch {
		case step.GaveUp:
			rec.FromDomain(step.Next)
			st.s.orders.Put(id, rec)
			res.GaveUp++
			res.Errors = append(res.Errors, err)
			continue
		case err != nil:
			res.Failed++
			res.Errors = append(res.Errors, err)
			continue
		case step.Replay == nil:
			continue
		}
		if err := st.s.orders.Publish(ctx, *step.Replay); err != nil {
			res.Failed++
			res.Errors = append(res.Errors, err)
			continue
		}
		rec.FromDomain(step.Next)
		st.s.orders.Put(id, rec)
		res.Done++
	}
	return res, nil
}

// listen never hears anything: the model answers with wait=0s.
func (st store) listen(context.Context, string) (<-chan longpoll.Update, func()) {
	return make(chan longpoll.Update), func() {}
}
