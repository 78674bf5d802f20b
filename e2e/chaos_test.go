package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/ticketsaga/saga/infra/chaos"
)

func (s *Stack) startDuplicator(t *testing.T, maxDelay time.Duration) *chaos.Duplicator {
	t.Helper()
	d, err := chaos.Start(context.Background(), s.pubsub, s.project, s.decl.Topic, "chaos-tap", 2, maxDelay)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Stop)
	return d
}

// TestChaos runs many orders for scarce tickets while every saga event is
// delivered 1-2 extra times after random delays of up to 1.5 s, orders time
// out after 1 s, and, in the crash runs, services die right after commits.
// Then it checks every guarantee of CONTRACT §4 through the HTTP API.
func TestChaos(t *testing.T) {
	for _, run := range []struct {
		name  string
		crash float64
	}{{"duplicates-and-timeouts", 0}, {"with-crashes-after-commit", 0.1}} {
		t.Run(run.name, func(t *testing.T) {
			runChaos(t, 110, run.crash)
		})
	}
}

func runChaos(t *testing.T, orders int, crash float64) {
	const (
		users, initialBalance = 12, 1000
		price                 = 100
		timeout               = time.Second
		sweepEvery            = 250 * time.Millisecond
	)
	s := startStack(t, stackOptions{timeout: timeout, crash: crash})
	dup := s.startDuplicator(t, 1500*time.Millisecond)
	s.sweeper(t, sweepEvery)

	tickets := map[string]int64{uniq("scarce"): 12, uniq("scarce"): 8, uniq("scarce"): 15}
	var ticketIDs, userIDs []string
	for id, st := range tickets {
		s.seedTicket(t, id, price, st)
		ticketIDs = append(ticketIDs, id)
	}
	for range users {
		u := uniq("chaos")
		s.seedAccount(t, u, initialBalance)
		userIDs = append(userIDs, u)
	}

	type placed struct {
		id, user, ticket string
		qty              int64
		answer           int
		reason           string
	}
	results := make([]placed, orders)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := range orders {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			u, tk, q := userIDs[rand.IntN(users)], ticketIDs[rand.IntN(len(ticketIDs))], int64(1+rand.IntN(2))
			r, _ := postOrder(t, s.order, "?wait=10s", order(u, tk, q, q*price), fmt.Sprintf("chaos-%d", i))
			results[i] = placed{id: r.str("order_id"), user: u, ticket: tk, qty: q, answer: r.Status, reason: r.str("reason")}
		}()
	}
	wg.Wait()

	// Guarantee 3: every order ends terminal.
	final := map[string]resp{}
	for _, p := range results {
		if p.id == "" {
			t.Fatalf("an order got no id: %+v", p)
		}
		g := do(t, "GET", s.order+"/orders/"+p.id+"?wait=30s", nil)
		if st := g.str("status"); st != "completed" && st != "failed" && st != "cancelled" {
			t.Fatalf("order %s not terminal: %s", p.id, g.Raw)
		}
		final[p.id] = g
	}
	// Quiet: every injected copy was published and every push handled.
	dup.Drain()
	if n := dup.Failed(); n > 0 {
		t.Errorf("%d duplicates could not be injected", n)
	}
	s.deliveries.waitQuiet(t, 2*time.Second)

	counts := map[string]int{}
	spent := map[string]int64{}
	granted := map[string]map[string]int64{}
	sold := map[string]int64{}
	for _, p := range results {
		g := final[p.id]
		st := g.str("status")
		counts[st]++
		// Guarantee 6: what the user was told is what the state says.
		switch p.answer {
		case http.StatusCreated:
			if st != "completed" {
				t.Errorf("order %s answered 201 but is %s", p.id, st)
			}
		case http.StatusConflict:
			if (st != "failed" && st != "cancelled") || g.str("reason") != p.reason {
				t.Errorf("order %s answered 409 %s but is %s %s", p.id, p.reason, st, g.str("reason"))
			}
		case http.StatusAccepted:
		default:
			t.Errorf("order %s answered %d", p.id, p.answer)
		}
		if st == "completed" {
			spent[p.user] += p.qty * price
			sold[p.ticket] += p.qty
			if granted[p.user] == nil {
				granted[p.user] = map[string]int64{}
			}
			granted[p.user][p.ticket] += p.qty
		}
	}
	violations := 0
	for _, u := range userIDs {
		// Guarantee 1: points are conserved.
		if got, want := s.balance(t, u), initialBalance-spent[u]; got != want {
			violations++
			t.Errorf("%s balance %d, want %d", u, got, want)
		}
		own := s.owned(t, u)
		for _, tk := range ticketIDs {
			if own[tk] != granted[u][tk] {
				violations++
				t.Errorf("%s owns %d of %s, completed orders hold %d", u, own[tk], tk, granted[u][tk])
			}
		}
	}
	for tk, initial := range tickets {
		// Guarantee 2: stock is conserved and never negative.
		if got := s.stock(t, tk); got != initial-sold[tk] || got < 0 {
			violations++
			t.Errorf("ticket %s stock %d, want %d", tk, got, initial-sold[tk])
		}
	}
	t.Logf("chaos (crash %.2f): %d orders: %d completed, %d failed, %d cancelled; %d duplicates injected; %d invariant violations",
		crash, orders, counts["completed"], counts["failed"], counts["cancelled"], dup.Injected(), violations)
}
