package e2e

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ticketsaga/saga/order-service/ops"
	"github.com/ticketsaga/saga/shared/saga"
	"github.com/ticketsaga/saga/tools/loadgen"
)

// Fault drills: one service is unavailable for longer than Pub/Sub's five
// delivery attempts take, so its deliveries are dead-lettered (or, on the
// emulator, stall unretried), then comes back. Every order must end within
// the bound of docs/self-healing.md, with every effect done or undone, and nothing left
// for an operator to do.

// drillConfig is the stack the drills run: short timeouts, so that the
// bound is short too.
var drillConfig = struct {
	timeout, healAfter, healMax, sweep, outage, pushBackoff, slack time.Duration
}{
	timeout:   3 * time.Second,
	healAfter: 2 * time.Second,
	healMax:   4 * time.Second,
	sweep:     250 * time.Millisecond,
	// Long enough to dead-letter a message: five failed attempts take
	// about 15 s on the emulator.
	outage: 20 * time.Second,
	// After failures, Pub/Sub slows a push subscription down for up to
	// 60 s (its documented push backoff); the emulator does too, and then
	// even new messages of that subscription wait (seen here: ~30 s).
	pushBackoff: 60 * time.Second,
	// The hops of one compensation chain after the fault, on the
	// emulator (each up to a 100 ms push cycle, more under load).
	slack: 5 * time.Second,
}

func startDrillStack(t *testing.T) *Stack {
	t.Helper()
	c := drillConfig
	s := startStack(t, stackOptions{timeout: c.timeout, env: map[string]string{
		"HEAL_AFTER": c.healAfter.String(), "HEAL_MAX_INTERVAL": c.healMax.String(), "HEAL_GIVE_UP": "10m"}})
	s.sweeper(t, c.sweep)
	return s
}

// bound is docs/self-healing.md's: an order created at created, with the last fault
// ending at end, is terminal by max(created + ORDER_TIMEOUT, end + push
// backoff + HEAL_MAX_INTERVAL) + SWEEP_INTERVAL + the hops of one chain.
func bound(created, end time.Time) time.Time {
	c := drillConfig
	return maxTime(created.Add(c.timeout), end.Add(c.pushBackoff+c.healMax)).Add(c.sweep + c.slack)
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// drillReport is what a drill measured, for the log and the closing note.
type drillReport struct {
	name            string
	outage          time.Duration
	deadLetters     int
	stalled         int // failed deliveries never delivered again (the emulator's)
	lastTerminal    time.Duration
	boundAfterFault time.Duration
}

var (
	drillReportsMu sync.Mutex
	drillReports   []drillReport
)

func (r drillReport) log(t *testing.T) {
	t.Logf("drill %s: outage %s, %d dead letters, %d failed deliveries never retried, last order terminal %s after the outage (bound %s)",
		r.name, r.outage.Round(100*time.Millisecond), r.deadLetters, r.stalled, r.lastTerminal.Round(100*time.Millisecond), r.boundAfterFault.Round(100*time.Millisecond))
	drillReportsMu.Lock()
	drillReports = append(drillReports, r)
	drillReportsMu.Unlock()
}

// outage takes service down for d. It is the fault being injected: its
// length is the drill's definition, not a wait for a condition.
func (s *Stack) outage(service string, d time.Duration) (start, end time.Time) {
	s.deliveries.setDown(service, true)
	start = time.Now()
	time.Sleep(d) // the outage itself
	s.deliveries.setDown(service, false)
	return start, time.Now()
}

// settleAll long-polls every order (id → its buyer) until it is terminal,
// within limit.
func settleAll(t *testing.T, c *loadgen.Client, ids map[string]string, limit time.Duration) map[string]loadgen.Order {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(limit)
	out := map[string]loadgen.Order{}
	for id, user := range ids {
		for {
			left := time.Until(deadline)
			if left <= 0 {
				t.Fatalf("order %s not terminal within %s (last %+v)", id, limit, out[id])
			}
			o, err := c.Await(ctx, user, id, min(left.Truncate(time.Second)+time.Second, 60*time.Second))
			if err != nil {
				t.Fatalf("await %s: %v", id, err)
			}
			out[id] = o
			if loadgen.Terminal(o.Status) {
				break
			}
		}
	}
	return out
}

// checkDrill asserts what every drill ends with: each order terminal within
// the bound, nothing stuck, every dead letter belonging to an order that
// ended; and measures the drill.
func (s *Stack) checkDrill(t *testing.T, name string, orders map[string]loadgen.Order, start, end time.Time) drillReport {
	t.Helper()
	ctx := context.Background()
	r := drillReport{name: name, outage: end.Sub(start)}
	var latest time.Time
	for id, o := range orders {
		if !loadgen.Terminal(o.Status) {
			t.Errorf("order %s is %s", id, o.Status)
			continue
		}
		if b := bound(o.CreatedAt, end); o.UpdatedAt.After(b) {
			t.Errorf("order %s (created %s) ended %s after the outage, past the bound by %s",
				id, o.CreatedAt.Format(time.StampMilli), o.UpdatedAt.Sub(end), o.UpdatedAt.Sub(b))
		}
		latest = maxTime(latest, o.UpdatedAt)
		r.boundAfterFault = max(r.boundAfterFault, bound(o.CreatedAt, end).Sub(end))
	}
	r.lastTerminal = latest.Sub(end)

	stuck, err := ops.Stuck(ctx, s.fs, time.Now(), 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range stuck {
		t.Errorf("left for an operator: order %s %s", o.OrderID, o.Status)
	}
	dls, err := ops.DeadLetters{PubSub: s.pubsub, FS: s.fs, Project: s.project, Routing: s.routing()}.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r.deadLetters = len(dls)
	for _, g := range ops.GroupBy(dls) {
		if g.Open > 0 {
			t.Errorf("left for an operator: %d open dead letters on %s (%s)", g.Open, g.Subscription, g.Reason)
		}
	}
	r.stalled = s.deliveries.neverRetried()
	return r
}

// neverRetried counts failed push deliveries of an event to a service that
// were never followed by a successful one.
func (l *deliveryLog) neverRetried() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	type key struct{ service, event string }
	failed, acked := map[key]bool{}, map[key]bool{}
	for _, d := range l.list {
		k := key{d.Service, d.EventID}
		if d.Status >= 500 {
			failed[k] = true
		} else {
			acked[k] = true
		}
	}
	n := 0
	for k := range failed {
		if !acked[k] {
			n++
		}
	}
	return n
}

// client is a load client of s, its exchanges checked against the API
// document.
func (s *Stack) client() *loadgen.Client {
	c := loadgen.NewClient(s.order, s.point, s.ticket)
	c.HTTP.Transport = contract.over(c.HTTP.Transport)
	return c
}

func (s *Stack) place(t *testing.T, user, ticket string, qty, price int64) string {
	t.Helper()
	r := s.buy(t, user, "?wait=0s", order(user, ticket, qty, price))
	if r.Status != http.StatusAccepted && r.Status != http.StatusCreated && r.Status != http.StatusConflict {
		t.Fatalf("POST /orders: %d %s", r.Status, r.Raw)
	}
	return r.str("order_id")
}

// TestDrillOrderServiceDownDuringRefund: three sold-out orders and three
// that would complete are placed; order-service goes down at once, so the
// refunds of the sold-out ones (and the grants of the others) cannot reach
// it. When it is back, the sold-out orders end with their points back and
// the others end too, each within the bound.
func TestDrillOrderServiceDownDuringRefund(t *testing.T) {
	t.Parallel()
	s := startDrillStack(t)
	user, soldOut, onSale := uniq("d1"), uniq("d1-soldout"), uniq("d1-sale")
	s.seedAccount(t, user, 1000)
	s.seedTicket(t, soldOut, 100, 0)
	s.seedTicket(t, onSale, 100, 10)
	var soldOutIDs []string
	ids := map[string]string{}
	for range 3 {
		soldOutIDs = append(soldOutIDs, s.place(t, user, soldOut, 1, 100))
		ids[s.place(t, user, onSale, 1, 100)] = user
	}
	for _, id := range soldOutIDs {
		ids[id] = user
	}
	start, end := s.outage(saga.OrderService, drillConfig.outage)

	orders := settleAll(t, s.client(), ids, 2*time.Minute)
	spent, bought := int64(0), int64(0)
	for id := range ids {
		if o := orders[id]; o.Status == "completed" {
			spent, bought = spent+o.Price, bought+o.Quantity
		}
	}
	for _, id := range soldOutIDs {
		if orders[id].Status == "completed" {
			t.Errorf("sold-out order %s completed", id)
		}
	}
	if got := s.balance(t, user); got != 1000-spent {
		t.Errorf("balance %d, want %d", got, 1000-spent)
	}
	if got := s.stock(t, onSale); got != 10-bought {
		t.Errorf("stock %d, want %d", got, 10-bought)
	}
	if got := s.owned(t, user)[onSale]; got != bought {
		t.Errorf("owns %d, want %d", got, bought)
	}
	s.checkDrill(t, "order-service down during the refund of sold-out orders", orders, start, end).log(t)
}

// TestDrillTicketServiceDownDuringStop: the order is charged, then
// ticket-service goes down before it can grant; the order times out, and
// its stopped-order cannot reach ticket-service either. When ticket-service
// is back, the order is cancelled with its points back.
func TestDrillTicketServiceDownDuringStop(t *testing.T) {
	t.Parallel()
	s := startDrillStack(t)
	user, ticket := uniq("d2"), uniq("d2t")
	s.seedAccount(t, user, 1000)
	s.seedTicket(t, ticket, 100, 5)
	s.deliveries.setDown(saga.TicketService, true)
	id := s.place(t, user, ticket, 1, 100)
	waitBalance(t, s, user, 900) // charged
	start, end := s.outage(saga.TicketService, drillConfig.outage)

	orders := settleAll(t, s.client(), map[string]string{id: user}, 2*time.Minute)
	if o := orders[id]; o.Status != "cancelled" || o.Reason != "timeout" {
		t.Errorf("order = %+v, want cancelled (timeout)", o)
	}
	if got := s.balance(t, user); got != 1000 {
		t.Errorf("balance %d, want 1000", got)
	}
	if got := s.stock(t, ticket); got != 5 {
		t.Errorf("stock %d, want 5", got)
	}
	if got := s.owned(t, user); len(got) != 0 {
		t.Errorf("owns %v", got)
	}
	s.checkDrill(t, "ticket-service down during stopped-order of a charged order", orders, start, end).log(t)
}

// TestDrillPointServiceDownDuringCancel: the order is charged and times
// out (its grant is held back); point-service goes down, so the
// canceled-ticket that should refund it cannot reach point-service. When it
// is back, the order is cancelled with its points back, and the late grant,
// released, is blocked.
func TestDrillPointServiceDownDuringCancel(t *testing.T) {
	t.Parallel()
	s := startDrillStack(t)
	user, ticket := uniq("d3"), uniq("d3t")
	s.seedAccount(t, user, 1000)
	s.seedTicket(t, ticket, 100, 5)
	s.deliveries.setHold(func(service string, attrs map[string]string) bool {
		return service == saga.TicketService && attrs[saga.AttrEventType] == string(saga.ConsumedPoint)
	})
	id := s.place(t, user, ticket, 1, 100)
	waitBalance(t, s, user, 900) // charged, the grant held back
	start, end := s.outage(saga.PointService, drillConfig.outage)
	s.deliveries.setHold(nil)

	orders := settleAll(t, s.client(), map[string]string{id: user}, 2*time.Minute)
	if o := orders[id]; o.Status != "cancelled" || o.Reason != "timeout" {
		t.Errorf("order = %+v, want cancelled (timeout)", o)
	}
	if got := s.balance(t, user); got != 1000 {
		t.Errorf("balance %d, want 1000", got)
	}
	if got := s.stock(t, ticket); got != 5 {
		t.Errorf("stock %d, want 5", got)
	}
	s.checkDrill(t, "point-service down during canceled-ticket", orders, start, end).log(t)
}

// TestDrillEveryServiceInTurn: a stream of orders runs while order-, point-
// and ticket-service are each down in turn. Every order ends within the
// bound, and balances, stock and owned tickets match the completed orders
// exactly.
func TestDrillEveryServiceInTurn(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := startDrillStack(t)
	c := s.client()
	run, err := loadgen.Seed(ctx, c, loadgen.Scenario{
		Prefix: uniq("d4"), Users: 6, Balance: 3000, Tickets: 2, Price: 100, Stock: 25,
		Orders: 160, Concurrency: 64, MaxQuantity: 2, Wait: 0, Pace: 400 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	fired := make(chan struct{})
	go func() { defer close(fired); run.Fire(ctx, c) }()

	var start, end time.Time
	outage := 16 * time.Second
	for i, svc := range []string{saga.OrderService, saga.PointService, saga.TicketService} {
		time.Sleep(3 * time.Second) // the stream runs with every service up in between
		st, e := s.outage(svc, outage)
		if i == 0 {
			start = st
		}
		end = e
	}
	<-fired

	ids := map[string]string{}
	for _, p := range run.Orders {
		if p.Err != nil {
			t.Fatalf("order %s: %v", p.Key, p.Err)
		}
		ids[p.Answer.Order.OrderID] = p.User
	}
	orders := settleAll(t, c, ids, 3*time.Minute)
	finals := make([]loadgen.Order, len(run.Orders))
	for i, p := range run.Orders {
		finals[i] = orders[p.Answer.Order.OrderID]
	}
	rep, err := run.Verify(ctx, c, finals)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range rep.Violations {
		t.Error(v)
	}
	t.Logf("stream of %d orders: %d completed, %d failed, %d cancelled", len(ids), rep.Counts["completed"], rep.Counts["failed"], rep.Counts["cancelled"])
	s.checkDrill(t, fmt.Sprintf("every service down in turn (3 × %s) under a stream of %d orders", outage, len(ids)), orders, start, end).log(t)
}

// TestMain prints the drills' measurements together at the end (see
// main_test.go); this helper formats them.
func drillSummary() string {
	drillReportsMu.Lock()
	defer drillReportsMu.Unlock()
	sort.Slice(drillReports, func(i, j int) bool { return drillReports[i].name < drillReports[j].name })
	var b strings.Builder
	for _, r := range drillReports {
		fmt.Fprintf(&b, "  %-75s outage %5.1fs  dead letters %2d  never retried %2d  last terminal +%5.1fs  bound +%5.1fs\n",
			r.name, r.outage.Seconds(), r.deadLetters, r.stalled, r.lastTerminal.Seconds(), r.boundAfterFault.Seconds())
	}
	return b.String()
}

// TestPoisonedCompensationIsNotReplayedForever: a compensation that can
// never succeed (ticket-service's record of the order is corrupt) is
// replayed with backoff until HEAL_GIVE_UP, then no more, and the order is
// shown to operators as needing them.
func TestPoisonedCompensationIsNotReplayedForever(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := startStack(t, stackOptions{timeout: 2 * time.Second, env: map[string]string{
		"HEAL_AFTER": "1s", "HEAL_MAX_INTERVAL": "2s", "HEAL_GIVE_UP": "6s"}})
	s.sweeper(t, 250*time.Millisecond)
	user, ticket := uniq("poison"), uniq("poisont")
	s.seedAccount(t, user, 1000)
	s.seedTicket(t, ticket, 100, 5)
	// Hold the grant back so the order times out, with ticket-service's
	// saga document for it corrupt.
	s.deliveries.setHold(func(service string, attrs map[string]string) bool {
		return service == saga.TicketService && attrs[saga.AttrEventType] == string(saga.ConsumedPoint)
	})
	id := s.place(t, user, ticket, 1, 100)
	if _, err := s.fs.Collection("ticket_sagas").Doc(id).Set(ctx, map[string]any{"state": map[string]any{"not": "a state"}}); err != nil {
		t.Fatal(err)
	}

	var stuck []ops.StuckOrder
	deadline := time.Now().Add(60 * time.Second)
	for len(stuck) == 0 || !stuck[0].GaveUp {
		if time.Now().After(deadline) {
			t.Fatalf("replays never ended: %+v", stuck)
		}
		time.Sleep(250 * time.Millisecond) // one sweep interval
		var err error
		if stuck, err = ops.Stuck(ctx, s.fs, time.Now(), 0); err != nil {
			t.Fatal(err)
		}
	}
	o := stuck[0]
	// Stopped at ~2 s; replays at +1, +3, +5 s (1 s, then 2 s apart), and
	// none at or after +6 s.
	if o.OrderID != id || o.Status != "stopping" || o.Replays < 2 || o.Replays > 4 || o.NextReplay != nil {
		t.Fatalf("stuck order = %+v", o)
	}
	replays := o.Replays
	time.Sleep(3 * time.Second) // more sweeps, which must not replay it
	if stuck, err := ops.Stuck(ctx, s.fs, time.Now(), 0); err != nil || len(stuck) != 1 || stuck[0].Replays != replays {
		t.Errorf("after giving up: %+v, %v", stuck, err)
	}
	if got := s.balance(t, user); got != 900 {
		t.Errorf("balance %d: the refund cannot have run before the cancel", got)
	}
}
