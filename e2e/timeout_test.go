package e2e

import (
	"context"
	"io"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/ticketsaga/saga/shared/saga"
)

// sweeper plays Cloud Scheduler for s until the test ends.
func (s *Stack) sweeper(t *testing.T, every time.Duration) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			req, _ := http.NewRequestWithContext(ctx, "POST", s.order+"/tasks/sweep", nil)
			if resp, err := http.DefaultClient.Do(req); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}
	}()
}

// TestTimeoutCompensatesAndBlocksLateGrant holds the consumed-point push
// away from ticket-service until the order has timed out: the stop flow
// runs a null ticket cancel and a refund, the order ends cancelled, and
// the late grant, once released, is blocked.
func TestTimeoutCompensatesAndBlocksLateGrant(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{timeout: time.Second})
	s.sweeper(t, 200*time.Millisecond)
	user, ticket := uniq("slow"), uniq("slowt")
	s.seedAccount(t, user, 1000)
	s.seedTicket(t, ticket, 100, 3)
	s.deliveries.setHold(func(service string, attrs map[string]string) bool {
		return service == saga.TicketService && attrs["event_type"] == "consumed-point"
	})

	r := s.buy(t, user, "?wait=20s", order(user, ticket, 1, 100))
	mustStatus(t, r, http.StatusConflict)
	if r.str("status") != "cancelled" || r.str("reason") != "timeout" {
		t.Fatalf("order = %s", r.Raw)
	}
	h := historyTypes(r)
	for _, want := range []string{"started-order", "consumed-point", "stopped-order", "canceled-ticket", "refunded-point"} {
		if !slices.Contains(h, want) {
			t.Errorf("history %v lacks %s", h, want)
		}
	}
	if got := s.balance(t, user); got != 1000 {
		t.Errorf("balance = %d, want 1000 (refunded before the answer)", got)
	}

	// Release the grant: its redelivery must not take stock.
	s.deliveries.setHold(nil)
	s.deliveries.waitForCount(t, "released consumed-point", 1, func(d delivery) bool {
		return d.Service == saga.TicketService && d.EventType == "consumed-point"
	})
	if got := s.stock(t, ticket); got != 3 {
		t.Errorf("stock = %d, want 3", got)
	}
	if got := s.owned(t, user); len(got) != 0 {
		t.Errorf("user owns %v after a cancelled order", got)
	}
	if got := s.balance(t, user); got != 1000 {
		t.Errorf("balance after the late grant = %d, want 1000", got)
	}
	g := s.orderOf(t, user, "/orders/"+r.str("order_id"))
	if g.str("status") != "cancelled" {
		t.Errorf("order after the late grant = %s", g.Raw)
	}
}

// TestCrashAfterCommitLosesNothing: every service "crashes" right after
// each commit, before publishing its event. The buyer's retry with the
// same key publishes started-order again, Pub/Sub's redelivery of each
// unacked push makes its step publish what it stored, and the saga
// completes.
func TestCrashAfterCommitLosesNothing(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{timeout: 30 * time.Second, crash: 1})
	s.sweeper(t, 250*time.Millisecond)
	user, ticket := uniq("crash"), uniq("crasht")
	s.seedAccount(t, user, 1000)
	s.seedTicket(t, ticket, 100, 3)

	r, attempts := postOrder(t, s, user, "?wait=45s", order(user, ticket, 1, 100), "crash-1")
	if attempts < 2 {
		t.Fatalf("the fault switch did not fire: first answer %d", r.Status)
	}
	// Every later step crashes after its commit too; Pub/Sub's
	// redelivery carries each event on.
	mustStatus(t, r, http.StatusCreated)
	if r.str("status") != "completed" {
		t.Fatalf("order = %s", r.Raw)
	}
	if got := s.balance(t, user); got != 900 {
		t.Errorf("balance = %d, want 900", got)
	}
	if got := s.owned(t, user)[ticket]; got != 1 {
		t.Errorf("owns %d, want 1", got)
	}
}
