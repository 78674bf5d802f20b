package modelcheck

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	ordermem "github.com/ticketsaga/saga/order-service/memory"
	orderrec "github.com/ticketsaga/saga/order-service/records"
	ordersvc "github.com/ticketsaga/saga/order-service/service"
	pointmem "github.com/ticketsaga/saga/point-service/memory"
	pointrec "github.com/ticketsaga/saga/point-service/records"
	pointsvc "github.com/ticketsaga/saga/point-service/service"
	"github.com/ticketsaga/saga/shared/event"
	"github.com/ticketsaga/saga/shared/outbox"
	"github.com/ticketsaga/saga/shared/saga"
	ticketmem "github.com/ticketsaga/saga/ticket-service/memory"
	ticketrec "github.com/ticketsaga/saga/ticket-service/records"
	ticketsvc "github.com/ticketsaga/saga/ticket-service/service"
)

// maxAttempts is the subscriptions' delivery attempts before the dead
// letter (infra/pubsub.json).
const maxAttempts = 5

// errCrash is a publish cut off by a crash right after its commit.
var errCrash = errors.New("crashed between commit and publish")

// subscribers is which services' subscriptions receive each event type:
// their step tables, which infra's tests hold equal to the filters.
var subscribers = func() map[saga.EventType][]string {
	out := map[saga.EventType][]string{}
	for name, table := range map[string]saga.Steps{saga.OrderService: ordersvc.Table, saga.PointService: pointsvc.Table, saga.TicketService: ticketsvc.Table} {
		for t := range table {
			out[t] = append(out[t], name)
		}
	}
	for _, subs := range out {
		slices.Sort(subs)
	}
	return out
}()

// scenario is the users, tickets and orders of one check.
type scenario struct {
	name     string
	balances map[string]int64
	tickets  map[string][2]int64 // price per ticket, stock
	shards   int
	orders   []placement
}

// placement is one POST /orders: by User, with an Idempotency-Key.
type placement struct {
	Key, User, Ticket string
	Quantity, Price   int64
}

// budget is the faults a path may still inject: duplicate deliveries,
// crashes between a commit and its publish, deliveries lost to the dead
// letter, publishes lost after their commit (the step's input acked, or
// the order's request answered, as if the publish had gone out), waits
// past the timeout, waits until a pending order's replay is due, and
// buyer retries.
type budget struct {
	Dups, Crashes, Losses, Drops, Ticks, Waits, Retries int
}

// delivery is a message a subscription holds for its service.
type delivery struct {
	To       string
	Msg      event.Message
	Attempts int
}

// answer is what a buyer was told about a terminal order, the first time.
type answer struct{ Status, Reason string }

// world is the saga at one point of a path: the three services' documents,
// what Pub/Sub holds, the clock, what buyers were answered, and the faults
// left.
type world struct {
	sc    *scenario
	ctx   context.Context
	ids   *int // event ids, unique across the whole search
	start time.Time
	// elapsed is the clock since start; tick is a wait past the timeout
	// and the longest wait between replays, wait one until a pending
	// order's first replay is due.
	elapsed    time.Duration
	tick, wait time.Duration
	order      *ordermem.Service
	point      *pointmem.Service
	ticket     *ticketmem.Service
	flight     []delivery
	placed     []string // order id of each placement, "" until placed
	// answers by order id; broken is the first invariant that broke.
	answers map[string]answer
	left    budget
	crash   bool // the next publish fails
	drop    bool // the next publish is lost, unknown to its publisher
	broken  string
}

func newWorld(ctx context.Context, sc *scenario, left budget, ids *int) (*world, error) {
	cfg, err := ordersvc.LoadSettings(func(string) string { return "" })
	if err != nil {
		return nil, err
	}
	w := &world{sc: sc, ctx: ctx, ids: ids, start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		tick: cfg.OrderTimeout + cfg.Heal.Max, wait: cfg.Heal.Pending,
		placed:  make([]string, len(sc.orders)),
		answers: map[string]answer{}, left: left}
	w.order = ordermem.New(w.env(), cfg)
	w.point = pointmem.New(w.env())
	w.ticket = ticketmem.New(w.env(), sc.shards)
	for _, u := range slices.Sorted(maps.Keys(sc.balances)) {
		if err := w.point.SetBalance(ctx, u, sc.balances[u]); err != nil {
			return nil, err
		}
	}
	for _, id := range slices.Sorted(maps.Keys(sc.tickets)) {
		t := sc.tickets[id]
		if err := w.ticket.PutTicket(ctx, id, t[0], t[1]); err != nil {
			return nil, err
		}
	}
	return w, nil
}

func (w *world) env() outbox.Env {
	return outbox.Env{
		Now:     func() time.Time { return w.start.Add(w.elapsed) },
		NewID:   func() string { *w.ids++; return fmt.Sprintf("ev%d", *w.ids) },
		Publish: w.publish,
	}
}

func (w *world) clone() *world {
	c := *w
	c.order = w.order.Clone(c.env())
	c.point = w.point.Clone(c.env())
	c.ticket = w.ticket.Clone(c.env())
	c.flight = slices.Clone(w.flight)
	c.placed = slices.Clone(w.placed)
	c.answers = maps.Clone(w.answers)
	return &c
}

// publish is the topic: each subscription whose filter takes the event
// gets a copy.
func (w *world) publish(_ context.Context, m event.Message) error {
	if w.crash {
		w.crash = false
		return errCrash
	}
	if w.drop {
		w.drop = false
		return nil
	}
	for _, to := range subscribers[m.Type] {
		w.flight = append(w.flight, delivery{To: to, Msg: m})
	}
	return nil
}

func (w *world) deliverTo(to string, m event.Message) error {
	switch to {
	case saga.OrderService:
		return w.order.Deliver(w.ctx, m)
	case saga.PointService:
		return w.point.Deliver(w.ctx, m)
	}
	return w.ticket.Deliver(w.ctx, m)
}

// deliver pushes delivery i; a failed push stays for a retry until its
// attempts run out (the dead letter).
func (w *world) deliver(i int, keep bool) {
	d := w.flight[i]
	if !keep {
		w.flight = slices.Delete(w.flight, i, i+1)
	}
	if err := w.deliverTo(d.To, d.Msg); err != nil {
		if d.Attempts+1 < maxAttempts {
			d.Attempts++
			w.flight = append(w.flight, d)
		}
	}
}

func (w *world) place(i int) {
	p := w.sc.orders[i]
	o, err := w.order.Place(w.ctx, p.User, p.Key, p.Ticket, p.Quantity, p.Price)
	if err != nil {
		w.broke("POST /orders #%d failed: %v", i+1, err)
		return
	}
	w.placed[i] = o.ID
}

// sweep is the task Cloud Scheduler runs: order-service's timeout sweep
// (stops and replays).
func (w *world) sweep() {
	// A sweep that fails is logged and runs again next time.
	_ = w.order.Sweep(w.ctx)
}

func (w *world) broke(format string, args ...any) {
	if w.broken == "" {
		w.broken = fmt.Sprintf(format, args...)
	}
}

func (w *world) allPlaced() bool { return !slices.Contains(w.placed, "") }

// observe is the buyers asking after every step: the first terminal
// answer is recorded, with the check that every compensation was done
// before it; an answer never changes.
func (w *world) observe() {
	for i, id := range w.placed {
		if id == "" {
			continue
		}
		o, err := w.order.Get(w.ctx, w.sc.orders[i].User, id)
		if err != nil {
			w.broke("GET /orders/%s: %v", id, err)
			return
		}
		if !o.Terminal {
			continue
		}
		got := answer{Status: o.Status, Reason: o.Reason}
		if prev, ok := w.answers[id]; ok {
			if prev != got {
				w.broke("order %s answered %v, now %v", id, prev, got)
			}
			continue
		}
		w.answers[id] = got
		if problem := w.settledRight(i, id, o.Status); problem != "" {
			w.broke("order %s answered %s %s while %s", id, o.Status, o.Reason, problem)
		}
	}
	for u, b := range w.point.Accounts() {
		if b < 0 {
			w.broke("balance of %s is %d", u, b)
		}
	}
	for id, shards := range w.ticket.Stock() {
		for k, n := range shards {
			if n < 0 {
				w.broke("stock shard %d of %s is %d", k, id, n)
			}
		}
	}
}

// settledRight says what is wrong with order id (placement i) being in
// status: completed means paid and granted; failed or cancelled means
// nothing taken, or all of it given back.
func (w *world) settledRight(i int, id, status string) string {
	p := w.sc.orders[i]
	ps, hasPS := w.pointSagas()[id]
	ts, hasTS := w.ticketSagas()[id]
	if status == string(orderrec.StatusCompleted) {
		switch {
		case !hasPS || ps.State != pointrec.StateConsumed || ps.Amount != p.Price:
			return fmt.Sprintf("its points are %+v", ps.Domain())
		case !hasTS || ts.State != ticketrec.StateGranted || ts.Quantity != p.Quantity:
			return fmt.Sprintf("its tickets are %s×%d", ts.State, ts.Quantity)
		}
		return ""
	}
	switch {
	case hasPS && ps.State == pointrec.StateConsumed:
		return "its points are still taken (no refund yet)"
	case hasTS && ts.State == ticketrec.StateGranted:
		return "its tickets are still granted (no cancel yet)"
	}
	return ""
}

// settle lets the faults end: sweeps run, time passes, and every message
// is delivered, until nothing is left to do. Time passes in waits for the
// pending orders' replays first, which come before their timeout; then
// past the timeout and the longest wait between replays.
func (w *world) settle() {
	for round := range settleRounds {
		w.sweep()
		for steps := 0; len(w.flight) > 0; steps++ {
			if steps > 1000 {
				w.broke("still delivering after 1000 pushes")
				return
			}
			w.deliver(0, false)
			w.observe()
		}
		w.observe()
		if w.allTerminal() {
			return
		}
		if round < 2 {
			w.elapsed += w.wait
		} else {
			w.elapsed += w.tick
		}
	}
}

// settleRounds is how many sweeps settle runs.
const settleRounds = 12

func (w *world) allTerminal() bool {
	for _, id := range w.placed {
		if o, ok := w.orders()[id]; !ok || !o.Status.Terminal() {
			return false
		}
	}
	return true
}

// quiet checks the contract's guarantees (docs/contract.md) once every
// fault has ended: every order terminal and answered as stored, points and
// stock conserved, tickets held = completed quantities, each order's
// records agreeing with it; and, on a path whose faults all came before
// any time passed, no order cancelled by its timeout: a lost event delays
// an order, it does not cancel it. (Faults that last until the timeout
// rightly end in it.)
func (w *world) quiet() string {
	timely := w.elapsed == 0
	w.settle()
	if w.broken != "" {
		return w.broken
	}
	orders := w.orders()
	spent := map[string]int64{}
	sold := map[string]int64{}
	held := map[[2]string]int64{}
	for i, id := range w.placed {
		o := orders[id]
		if !o.Status.Terminal() {
			return fmt.Sprintf("stranded: %s is %s after every fault ended and %d sweeps", id, o.Status, settleRounds)
		}
		if timely && o.Reason == saga.ReasonTimeout {
			return fmt.Sprintf("%s was cancelled by its timeout, though no fault lasted until then: a lost event was not sent again", id)
		}
		if a, ok := w.answers[id]; !ok || a.Status != string(o.Status) || a.Reason != o.Reason {
			return fmt.Sprintf("order %s is %s %s, answered %v", id, o.Status, o.Reason, a)
		}
		if problem := w.settledRight(i, id, string(o.Status)); problem != "" {
			return fmt.Sprintf("order %s is %s while %s", id, o.Status, problem)
		}
		if o.Status == orderrec.StatusCompleted {
			p := w.sc.orders[i]
			spent[p.User] += p.Price
			sold[p.Ticket] += p.Quantity
			held[[2]string{p.User, p.Ticket}] += p.Quantity
		}
	}
	balances := w.point.Accounts()
	for u, b := range w.sc.balances {
		if balances[u] != b-spent[u] {
			return fmt.Sprintf("points not conserved: %s has %d, started with %d and spent %d", u, balances[u], b, spent[u])
		}
	}
	stock := w.ticket.Stock()
	for id, t := range w.sc.tickets {
		var sum int64
		for _, n := range stock[id] {
			sum += n
		}
		if sum != t[1]-sold[id] {
			return fmt.Sprintf("stock not conserved: %s has %d, started with %d and sold %d", id, sum, t[1], sold[id])
		}
	}
	for u := range w.sc.balances {
		hs, err := w.ticket.Holdings(w.ctx, u)
		if err != nil {
			return err.Error()
		}
		for _, h := range hs {
			if h.Count != held[[2]string{u, h.TicketID}] {
				return fmt.Sprintf("%s holds %d of %s, completed orders %d", u, h.Count, h.TicketID, held[[2]string{u, h.TicketID}])
			}
			delete(held, [2]string{u, h.TicketID})
		}
	}
	for k, n := range held {
		if n != 0 {
			return fmt.Sprintf("%s holds no %s, completed orders %d", k[0], k[1], n)
		}
	}
	return ""
}

// describe names a message for a path's printout: its type, its order,
// the reason it carries, and whether it is a replay.
func describe(m event.Message) string {
	s := string(m.Type) + "(" + m.OrderID
	if env, err := event.Decode(m.Data); err == nil {
		for _, sec := range []*event.Section{env.Point, env.Ticket} {
			if sec != nil && sec.Reason != "" {
				s += ", " + sec.Reason
				break
			}
		}
	}
	if m.Attributes[saga.AttrReplay] != "" {
		s += ", replay"
	}
	return s + ")"
}

// key is the world's state, for the visited set: everything that decides
// what can happen next, and nothing that only names it (event ids,
// timestamps in histories).
func (w *world) key(reasons func(event.Message) string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "t%s c%v d%v %v|", w.elapsed, w.crash, w.drop, w.left)
	for _, id := range w.placed {
		b.WriteString(id + ",")
	}
	orders := w.orders()
	for _, id := range slices.Sorted(maps.Keys(orders)) {
		o := orders[id]
		next := ""
		if o.NextReplay != nil {
			next = o.NextReplay.Sub(w.start).String()
		}
		fmt.Fprintf(&b, "|o %s %s %s %d %v %s %v", id, o.Status, o.Reason, o.Replays, o.GaveUp, next, slices.Sorted(maps.Keys(o.Steps)))
	}
	accounts := w.point.Accounts()
	for _, u := range slices.Sorted(maps.Keys(accounts)) {
		fmt.Fprintf(&b, "|a %s %d", u, accounts[u])
	}
	ps := w.pointSagas()
	for _, id := range slices.Sorted(maps.Keys(ps)) {
		s := ps[id]
		fmt.Fprintf(&b, "|p %s %s %d %v", id, s.State, s.Amount, slices.Sorted(maps.Keys(s.Steps)))
	}
	fmt.Fprintf(&b, "|s %v", w.ticket.Stock())
	ts := w.ticketSagas()
	for _, id := range slices.Sorted(maps.Keys(ts)) {
		s := ts[id]
		fmt.Fprintf(&b, "|k %s %s %d %v %v", id, s.State, s.Quantity, s.Taken, slices.Sorted(maps.Keys(s.Steps)))
	}
	flight := make([]string, len(w.flight))
	for i, d := range w.flight {
		flight[i] = d.To + ":" + reasons(d.Msg) + fmt.Sprint(d.Attempts)
	}
	slices.Sort(flight)
	fmt.Fprintf(&b, "|f %v|ans %v", flight, w.answers)
	return b.String()
}

// orders, pointSagas and ticketSagas are the stored records, to read.
func (w *world) orders() map[string]orderrec.Order {
	out := map[string]orderrec.Order{}
	w.order.EachOrder(func(id string, r *orderrec.Order) { out[id] = *r })
	return out
}

func (w *world) pointSagas() map[string]pointrec.Saga {
	out := map[string]pointrec.Saga{}
	w.point.EachSaga(func(id string, r *pointrec.Saga) { out[id] = *r })
	return out
}

func (w *world) ticketSagas() map[string]ticketrec.Saga {
	out := map[string]ticketrec.Saga{}
	w.ticket.EachSaga(func(id string, r *ticketrec.Saga) { out[id] = *r })
	return out
}
