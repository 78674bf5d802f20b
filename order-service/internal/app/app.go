// Package app is order-service's application layer: placing and reading
// orders with their long-poll, the step that settles an order (its step
// table), and the timeout sweep with its self-healing replays. It decides
// with the domain (package order) and leaves storage to a Store.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/ticketsaga/saga/order-service/internal/longpoll"
	"github.com/ticketsaga/saga/order-service/internal/order"
	"github.com/ticketsaga/saga/shared/event"
	"github.com/ticketsaga/saga/shared/saga"
)

// Step names: the keys of order-service's events in the order document,
// and the step the table runs.
const (
	StepStart  = order.StepStart  // started-order, when the order is placed
	StepStop   = order.StepStop   // stopped-order, when it times out
	StepSettle = order.StepSettle // the events that end an order
)

// Table is order-service's step table: the only place that says which
// events it handles. Each settles an order.
var Table = saga.Steps{
	saga.GrantedTicket: StepSettle,
	saga.FailedPoint:   StepSettle,
	saga.RefundedPoint: StepSettle,
}

// settlers is which service may send each event that settles an order.
var settlers = map[saga.EventType]string{
	saga.GrantedTicket: saga.TicketService,
	saga.FailedPoint:   saga.PointService,
	saga.RefundedPoint: saga.PointService,
}

// SweepResult is what one part of a sweep did.
type SweepResult struct {
	Done   int // orders stopped, or replayed
	GaveUp int // orders whose replays ended (heal only)
	Failed int // orders that failed; the next sweep tries them again
	// Errors are the first errors, each naming its order.
	Errors []error
	// More: the sweep reached its deadline with orders left; the next
	// one carries on.
	More bool
}

// Placed is what Create found or made.
type Placed struct {
	Order   order.Order
	Created bool
	// Of an order that existed: the fingerprint of the request that made
	// it, and its stored started-order.
	Fingerprint string
	Start       *event.Message
}

// Stop decides the stop of an expired pending order: the stopping order
// and its stopped-order, or ok false when it is not to be stopped.
type Stop func(o order.Order) (next order.Order, stopped event.Message, ok bool, err error)

// HealStep is what to do with an unfinished order whose replay may be due:
// publish Replay (when set), then store Next; or, when GaveUp, store Next
// and report. The zero HealStep does nothing.
type HealStep struct {
	Next   order.Order
	Replay *event.Message
	GaveUp bool
}

// Heal decides a HealStep from an unfinished order and its stored events
// by step.
type Heal func(o order.Order, stored map[string]event.Message) (HealStep, error)

// Store is what the use cases need of storage. It keeps and publishes what
// the use cases decide, and decides nothing.
type Store interface {
	// Create stores o with its started-order event start and publishes
	// it, unless an order with o's id exists: then it returns that order.
	Create(ctx context.Context, o order.Order, fingerprint string, start event.Message) (Placed, error)
	// Publish publishes m, an event stored earlier, again.
	Publish(ctx context.Context, m event.Message) error
	// Get returns order id, or a saga.NotFound error.
	Get(ctx context.Context, id string) (order.Order, error)
	// Update runs change on order id in a transaction and stores the
	// order it returns when it says it changed; a saga.NotFound error when
	// there is no such order.
	Update(ctx context.Context, id string, change func(order.Order) (order.Order, bool, error)) (order.Order, bool, error)
	// StopExpired runs stop on every pending order created at or before
	// cutoff, and stores and publishes each stop it decides; in pages,
	// until deadline.
	StopExpired(ctx context.Context, cutoff time.Time, stop Stop, deadline time.Time) (SweepResult, error)
	// Heal runs heal on every unfinished order whose next replay is due
	// by now, and does what it decides; in pages, until deadline.
	Heal(ctx context.Context, now time.Time, heal Heal, deadline time.Time) (SweepResult, error)
}

// Config is what the use cases are configured with.
type Config struct {
	// Timeout is how long an order may stay pending (ORDER_TIMEOUT).
	Timeout time.Duration
	// Heal schedules the replays that drive unfinished orders to their
	// end.
	Heal order.HealPolicy
	// SweepBudget is how long one timeout sweep may start new pages of
	// orders; what is left waits for the next sweep.
	SweepBudget time.Duration
}

// App is order-service's use cases.
type App struct {
	Store  Store
	Polls  *longpoll.Poller
	Log    *slog.Logger
	Now    func() time.Time
	Config Config
	// Observe, when set, hears what the use cases did: the metrics.
	Observe Observer
	// Shop reads balances, ticket types and holdings for the buyer's page;
	// nil when the other services' URLs are not configured.
	Shop Shop
}

// Observer hears the outcomes an operator counts.
type Observer interface {
	// Ended: order o has just become terminal (once per order).
	Ended(ctx context.Context, o order.Order)
	// Swept: what one timeout sweep did.
	Swept(ctx context.Context, rep SweepReport)
}

// Steps returns the steps of the table.
func (a *App) Steps() map[string]event.Step { return map[string]event.Step{StepSettle: a.settle} }

// Place places an order for buyer uid (req.UserID is uid) and waits up to
// wait for it to end. With a key, the order id is derived from (uid, key):
// a replay finds the same order, answered like a fresh call.
func (a *App) Place(ctx context.Context, req order.Request, key string, wait Wait) (order.Order, error) {
	id := uuid.NewString()
	if key != "" {
		id = order.IDForKey(req.UserID, key)
	}
	now := a.Now().UTC()
	o := order.New(id, req, now, a.Config.Heal)
	start, err := event.NewMessage(Envelope(o), saga.StartedOrder, saga.OrderService, uuid.NewString(), "", now)
	if err != nil {
		return order.Order{}, err
	}
	o.History = []order.Entry{{EventType: saga.StartedOrder, Service: saga.OrderService, At: now}}
	// Watch before the order exists: a settle here is then never missed.
	watch := a.Polls.Watch(id)
	defer watch.Close()
	fingerprint := req.Fingerprint()
	placed, err := a.Store.Create(ctx, o, fingerprint, start)
	switch {
	case err != nil && placed.Order.ID == "":
		return order.Order{}, err
	case err != nil:
		// Committed but not published: the order exists, and its replay
		// will publish its event; a retry with the same key publishes it
		// at once.
		a.Log.WarnContext(ctx, "started-order not published yet", "order_id", id, "error", err.Error())
	case !placed.Created && placed.Fingerprint != fingerprint:
		return order.Order{}, saga.E(saga.Unprocessable, "idempotency_key_reused", "this Idempotency-Key was used for a different request")
	case !placed.Created && placed.Order.Status == order.StatusPending && placed.Start != nil:
		// Nothing records whether the first attempt's publish went out: a
		// retry sends it again, and point-service absorbs a duplicate.
		if err := a.Store.Publish(ctx, *placed.Start); err != nil {
			a.Log.WarnContext(ctx, "started-order not published yet", "order_id", id, "error", err.Error())
		}
	}
	o, created := placed.Order, placed.Created
	if o.Status.Terminal() {
		return o, nil
	}
	d, release := wait.hold()
	defer release()
	return watch.Wait(ctx, d, wait.Drain, created)
}

// Get returns buyer uid's order id, as soon as it is terminal or when wait
// runs out. Another buyer's order is not found: its existence is not
// revealed, not even by how long the answer takes.
func (a *App) Get(ctx context.Context, uid, id string, wait Wait) (order.Order, error) {
	o, err := a.Store.Get(ctx, id)
	if err == nil && o.UserID != uid {
		err = saga.E(saga.NotFound, "order_not_found", "no order %s", id)
	}
	if err != nil || o.Status.Terminal() || wait.For <= 0 {
		return o, err
	}
	watch := a.Polls.Watch(id)
	defer watch.Close()
	d, release := wait.hold()
	defer release()
	return watch.Wait(ctx, d, wait.Drain, false)
}

// Wait is how a long-poll waits for an order to end: for For at most.
// Hold, when set, takes one of the instance's long-poll places just before
// the wait, and may shorten it (to 0 when none is free); Drain ends the
// wait when the instance shuts down.
type Wait struct {
	For   time.Duration
	Hold  func(time.Duration) (time.Duration, func())
	Drain <-chan struct{}
}

func (w Wait) hold() (time.Duration, func()) {
	if w.Hold == nil || w.For <= 0 {
		return w.For, func() {}
	}
	return w.Hold(w.For)
}

// Envelope is the saga envelope of o as order-service starts it.
func Envelope(o order.Order) event.Envelope {
	env := event.Envelope{ID: o.ID, Order: &event.Order{UserID: o.UserID, TicketID: o.TicketID, Quantity: o.Quantity, Price: o.Price}}
	for _, e := range o.History {
		if e.Service == saga.OrderService {
			env.Order.History = append(env.Order.History, event.Record{EventType: e.EventType, Service: e.Service, At: e.At})
		}
	}
	return env
}

// settle moves an order on an event that ends it, and merges the
// envelope's timeline into the order's history. An event from the wrong
// service, for an unknown order, or naming another user, ticket, quantity
// or price than the order stored is poison.
func (a *App) settle(ctx context.Context, t saga.EventType, in event.Envelope) (event.Message, error) {
	if src := in.Source; src != settlers[t] {
		return event.Message{}, saga.Poison("%s from %q, not %s", t, src, settlers[t])
	}
	var reason string
	if t != saga.GrantedTicket {
		if in.Point == nil || in.Point.Reason == "" {
			return event.Message{}, saga.Poison("%s without a reason", t)
		}
		reason = in.Point.Reason
	}
	now := a.Now().UTC()
	defer a.Polls.Settling(in.ID)()
	o, changed, err := a.Store.Update(ctx, in.ID, func(o order.Order) (order.Order, bool, error) {
		if err := order.Check(o, order.Request{UserID: in.Order.UserID, TicketID: in.Order.TicketID, Quantity: in.Order.Quantity, Price: in.Order.Price}); err != nil {
			return o, false, saga.Wrap(saga.Permanent, "event_mismatch", err)
		}
		out, changed := order.Apply(o, t, reason, now)
		if changed {
			out.History = mergeHistory(o.History, in.History())
		}
		return out, changed, nil
	})
	if saga.KindOf(err) == saga.NotFound {
		return event.Message{}, saga.Poison("%s for unknown order %s", t, in.ID)
	}
	if err != nil {
		return event.Message{}, fmt.Errorf("settle order %s on %s: %w", in.ID, t, err)
	}
	if changed && o.Status.Terminal() {
		a.Polls.Settled(o)
		if a.Observe != nil {
			a.Observe.Ended(ctx, o)
		}
		a.Log.InfoContext(ctx, "order settled", "order_id", o.ID, "status", o.Status, "reason", o.Reason, "event_type", t)
	}
	return event.Message{}, nil
}

func mergeHistory(have []order.Entry, recs []event.Record) []order.Entry {
	as := make([]event.Record, 0, len(have))
	for _, e := range have {
		as = append(as, event.Record{EventType: e.EventType, Service: e.Service, At: e.At})
	}
	// Stored history has no ids: records are keyed by type and service.
	bs := make([]event.Record, len(recs))
	for i, r := range recs {
		r.EventID = ""
		bs[i] = r
	}
	var out []order.Entry
	for _, r := range event.MergeHistory(as, bs) {
		out = append(out, order.Entry{EventType: r.EventType, Service: r.Service, At: r.At})
	}
	return out
}

// SweepReport is what one timeout sweep did.
type SweepReport struct {
	Stopped  int  `json:"stopped"`
	Replayed int  `json:"replayed"`
	GaveUp   int  `json:"gave_up"`
	Failed   int  `json:"failed"`
	More     bool `json:"more"`
}

// ErrGaveUp marks an order whose replays ended without it ending.
var ErrGaveUp = errors.New("replays ended without the order ending; an operator must look")

// Sweep is the timeout task: it stops every expired pending order, then
// replays every unfinished order whose replay is due (self-healing). Each
// part runs even when the other failed; an order that fails is logged and
// left for the next sweep. The error is for parts that could not run at
// all.
func (a *App) Sweep(ctx context.Context) (SweepReport, error) {
	now := a.Now().UTC()
	deadline := time.Now().Add(a.Config.SweepBudget)
	var failures []error
	stop, err := a.Store.StopExpired(ctx, now.Add(-a.Config.Timeout), a.stopAt(now), deadline)
	if err != nil {
		failures = append(failures, err)
	}
	heal, err := a.Store.Heal(ctx, now, a.healAt(now), deadline)
	if err != nil {
		failures = append(failures, err)
	}
	for _, res := range []SweepResult{stop, heal} {
		for _, err := range res.Errors {
			msg := "timeout sweep: an order failed; the next sweep tries it again"
			if errors.Is(err, ErrGaveUp) {
				msg = "timeout sweep: an order is still stopping after every replay; an operator must look (sagactl stuck)"
			}
			a.Log.ErrorContext(ctx, msg, "error", err.Error())
		}
		if extra := res.Failed + res.GaveUp - len(res.Errors); extra > 0 {
			a.Log.ErrorContext(ctx, "timeout sweep: more orders failed", "count", extra)
		}
	}
	rep := SweepReport{Stopped: stop.Done, Replayed: heal.Done, GaveUp: heal.GaveUp, Failed: stop.Failed + heal.Failed,
		More: stop.More || heal.More}
	if a.Observe != nil {
		a.Observe.Swept(ctx, rep)
	}
	if rep != (SweepReport{}) {
		a.Log.InfoContext(ctx, "timeout sweep", "stopped", rep.Stopped, "replayed", rep.Replayed, "gave_up", rep.GaveUp,
			"failed", rep.Failed, "more", rep.More)
	}
	return rep, errors.Join(failures...)
}

// stopAt decides stops at now: an order pending for longer than the
// timeout becomes stopping, with its replays scheduled, and causes
// stopped-order.
func (a *App) stopAt(now time.Time) Stop {
	return func(o order.Order) (order.Order, event.Message, bool, error) {
		next, ok := order.Stop(o, now, a.Config.Timeout, a.Config.Heal)
		if !ok {
			return o, event.Message{}, false, nil
		}
		msg, err := event.NewMessage(Envelope(o), saga.StoppedOrder, saga.OrderService, uuid.NewString(), saga.ReasonTimeout, now)
		if err != nil {
			return o, event.Message{}, false, err
		}
		return next, msg, true, nil
	}
}

// healAt decides the self-healing of unfinished orders at now: when a
// replay is due, the order's stored event (started-order while pending,
// stopped-order while stopping) goes out again marked as a replay, and
// every step that already ran re-publishes its result, so an event lost on
// the way (a publish that failed, a message dead-lettered during an
// outage) is sent again until the order ends. Replays back off; those of a
// stopping order end after the policy's GiveUp.
func (a *App) healAt(now time.Time) Heal {
	return func(o order.Order, stored map[string]event.Message) (HealStep, error) {
		next, decision := order.Heal(o, now, a.Config.Heal)
		switch decision {
		case order.HealNone:
			return HealStep{}, nil
		case order.HealGiveUp:
			return HealStep{Next: next, GaveUp: true}, fmt.Errorf("stopping since %s after %d replays: %w",
				o.Recovery.StoppedAt.Format(time.RFC3339), o.Recovery.Replays, ErrGaveUp)
		}
		step := order.ReplayStep(o)
		m, ran := stored[step]
		if !ran {
			return HealStep{}, fmt.Errorf("%s order without its %s event", o.Status, step)
		}
		replay := m.AsReplay()
		return HealStep{Next: next, Replay: &replay}, nil
	}
}
