package e2e

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ticketsaga/saga/shared/event"
	"github.com/ticketsaga/saga/shared/push"
	"github.com/ticketsaga/saga/shared/saga"
)

// lostConfig is the stack of the lost-publish drill: a pending order is
// replayed a second after its creation, well before its timeout.
var lostConfig = struct {
	timeout, replayAfter, healAfter, healMax, sweep, slack time.Duration
}{
	timeout:     8 * time.Second,
	replayAfter: time.Second,
	healAfter:   time.Second,
	healMax:     2 * time.Second,
	sweep:       250 * time.Millisecond,
	// The hops of one chain on the emulator (each up to a 100 ms push
	// cycle, more under load), as in the fault drills.
	slack: 5 * time.Second,
}

// TestDrillLoseEachPublish loses each event of the saga in turn, for good:
// its consumer's push is acked unhandled, as if the step that committed it
// had never published it and no redelivery came. No service records what
// it published; the order's replay (docs/self-healing.md) brings every
// step's input again, and each step sends what it stored. Every order must
// end as it would have without the loss: a lost event on the way forward
// delays the purchase by about REPLAY_AFTER and does not cancel it; a lost
// compensation event delays the cancel by about HEAL_AFTER. Each order ends
// within docs/self-healing.md's bound, with its points and tickets right.
func TestDrillLoseEachPublish(t *testing.T) {
	t.Parallel()
	c := lostConfig
	s := startStack(t, stackOptions{timeout: c.timeout, env: map[string]string{
		"REPLAY_AFTER": c.replayAfter.String(), "HEAL_AFTER": c.healAfter.String(), "HEAL_MAX_INTERVAL": c.healMax.String(), "HEAL_GIVE_UP": "10m"}})
	s.sweeper(t, c.sweep)

	// forward: an order that ends without its timeout is due by its
	// replay; stopped: one that times out (every consumed-point kept from
	// ticket-service), by the stop's replay.
	forward := c.replayAfter + c.sweep + c.slack
	stopped := c.timeout + c.healAfter + c.sweep + c.slack
	cases := []struct {
		name    string
		lose    saga.EventType
		to      string // the event's consumer
		balance int64
		stock   int64
		stall   bool // the order can only time out
		status  string
		reason  string
		within  time.Duration
	}{
		{"started-order", saga.StartedOrder, saga.PointService, 1000, 3, false, "completed", "", forward},
		{"consumed-point", saga.ConsumedPoint, saga.TicketService, 1000, 3, false, "completed", "", forward},
		{"granted-ticket", saga.GrantedTicket, saga.OrderService, 1000, 3, false, "completed", "", forward},
		{"failed-point", saga.FailedPoint, saga.OrderService, 50, 3, false, "failed", saga.ReasonInsufficientPoints, forward},
		{"failed-ticket", saga.FailedTicket, saga.PointService, 1000, 0, false, "failed", saga.ReasonSoldOut, forward},
		{"refunded-point after a failure", saga.RefundedPoint, saga.OrderService, 1000, 0, false, "failed", saga.ReasonSoldOut, forward},
		{"stopped-order", saga.StoppedOrder, saga.TicketService, 1000, 3, true, "cancelled", saga.ReasonTimeout, stopped},
		{"canceled-ticket", saga.CanceledTicket, saga.PointService, 1000, 3, true, "cancelled", saga.ReasonTimeout, stopped},
		{"refunded-point after a timeout", saga.RefundedPoint, saga.OrderService, 1000, 3, true, "cancelled", saga.ReasonTimeout, stopped},
	}

	// Each case has its own buyer: the drop finds the case by the
	// envelope's user.
	type rule struct {
		lose    saga.EventType
		to      string
		stall   bool
		dropped int
	}
	var mu sync.Mutex
	rules := map[string]*rule{}
	s.deliveries.setDrop(func(service string, m push.Message) bool {
		env, err := event.Decode(m.Data)
		if err != nil || env.Order == nil {
			return false
		}
		mu.Lock()
		defer mu.Unlock()
		r := rules[env.Order.UserID]
		switch {
		case r == nil:
			return false
		case r.stall && service == saga.TicketService && m.EventType() == saga.ConsumedPoint:
			return true // never granted: the order times out
		case r.dropped == 0 && service == r.to && m.EventType() == r.lose:
			r.dropped++
			return true
		}
		return false
	})

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			user, ticket := uniq("lost"), uniq("lostt")
			s.seedAccount(t, user, tc.balance)
			s.seedTicket(t, ticket, 100, tc.stock)
			mu.Lock()
			rules[user] = &rule{lose: tc.lose, to: tc.to, stall: tc.stall}
			mu.Unlock()

			start := time.Now()
			r := s.buy(t, user, "?wait=25s", order(user, ticket, 1, 100))
			took := time.Since(start)
			if r.str("status") != tc.status || r.str("reason") != tc.reason {
				t.Fatalf("order = %s, want %s %s", r.Raw, tc.status, tc.reason)
			}
			want := http.StatusConflict
			if tc.status == "completed" {
				want = http.StatusCreated
			}
			mustStatus(t, r, want)
			mu.Lock()
			dropped := rules[user].dropped
			mu.Unlock()
			if dropped != 1 {
				t.Fatalf("%s to %s was lost %d times, want once", tc.lose, tc.to, dropped)
			}
			if took > tc.within {
				t.Errorf("the order ended after %s, beyond the bound %s", took.Round(time.Millisecond), tc.within)
			}
			t.Logf("lost %s → %s: %s after %s (bound %s)", tc.lose, tc.to, strings.TrimSpace(tc.status+" "+tc.reason), took.Round(time.Millisecond), tc.within)

			wantBalance, wantOwned := tc.balance, int64(0)
			if tc.status == "completed" {
				wantBalance, wantOwned = tc.balance-100, 1
			}
			if got := s.balance(t, user); got != wantBalance {
				t.Errorf("balance = %d, want %d", got, wantBalance)
			}
			if got := s.owned(t, user)[ticket]; got != wantOwned {
				t.Errorf("owns %d, want %d", got, wantOwned)
			}
			if got := s.stock(t, ticket); got != tc.stock-wantOwned {
				t.Errorf("stock = %d, want %d", got, tc.stock-wantOwned)
			}
		})
	}
}
