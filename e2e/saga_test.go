package e2e

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	orderservice "github.com/ticketsaga/saga/order-service/service"
	"github.com/ticketsaga/saga/shared/platform/serve"
	"github.com/ticketsaga/saga/shared/saga"
)

func TestHappyPath(t *testing.T) {
	t.Parallel()
	user, ticket := uniq("alice"), uniq("concert")
	stack.seedAccount(t, user, 10000)
	stack.seedTicket(t, ticket, 1000, 5)

	r := stack.buy(t, user, "", order(user, ticket, 2, 2000))
	mustStatus(t, r, http.StatusCreated)
	if r.str("status") != "completed" || r.Body["reason"] != nil {
		t.Fatalf("order = %s", r.Raw)
	}
	if got, want := historyTypes(r), []string{"started-order", "consumed-point", "granted-ticket"}; !slices.Equal(got, want) {
		t.Errorf("history = %v, want %v", got, want)
	}
	if got := stack.balance(t, user); got != 8000 {
		t.Errorf("balance = %d, want 8000", got)
	}
	if got := stack.stock(t, ticket); got != 3 {
		t.Errorf("stock = %d, want 3", got)
	}
	if got := stack.owned(t, user); got[ticket] != 2 || len(got) != 1 {
		t.Errorf("tickets = %v, want %s: 2", got, ticket)
	}
	g := stack.orderOf(t, user, "/orders/"+r.str("order_id"))
	mustStatus(t, g, http.StatusOK)
	if g.str("status") != "completed" || len(historyTypes(g)) != 3 {
		t.Errorf("GET order = %s", g.Raw)
	}
}

func TestBusinessFailures(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		reason      string
		balance     int64 // -1: no account
		ticketPrice int64 // 0: no ticket
		stock       int64
		orderPrice  int64
		refunded    bool // points were taken, then given back
	}{
		{"insufficient_points", 999, 1000, 5, 1000, false},
		{"unknown_account", -1, 1000, 5, 1000, false},
		{"sold_out", 5000, 1000, 0, 1000, true},
		{"unknown_ticket", 5000, 0, 0, 1000, true},
		{"price_mismatch", 5000, 1000, 5, 900, true},
	} {
		t.Run(tc.reason, func(t *testing.T) {
			t.Parallel()
			user, ticket := uniq("u"), uniq("t")
			if tc.balance >= 0 {
				stack.seedAccount(t, user, tc.balance)
			}
			if tc.ticketPrice > 0 {
				stack.seedTicket(t, ticket, tc.ticketPrice, tc.stock)
			}
			r := stack.buy(t, user, "", order(user, ticket, 1, tc.orderPrice))
			mustStatus(t, r, http.StatusConflict)
			if r.str("status") != "failed" || r.str("reason") != tc.reason || r.str("error", "code") != tc.reason {
				t.Fatalf("order = %s", r.Raw)
			}
			// The answer was sent after the compensation: the state
			// already says so.
			if tc.balance >= 0 {
				if got := stack.balance(t, user); got != tc.balance {
					t.Errorf("balance = %d, want %d unchanged", got, tc.balance)
				}
			} else if g := do(t, "GET", stack.point+"/accounts/"+user, nil); g.Status != http.StatusNotFound {
				t.Errorf("an account appeared: %s", g.Raw)
			}
			if tc.ticketPrice > 0 {
				if got := stack.stock(t, ticket); got != tc.stock {
					t.Errorf("stock = %d, want %d unchanged", got, tc.stock)
				}
			}
			if got := stack.owned(t, user); len(got) != 0 {
				t.Errorf("user owns %v, want nothing", got)
			}
			h := historyTypes(r)
			if tc.refunded && !slices.Contains(h, "refunded-point") {
				t.Errorf("history %v lacks refunded-point", h)
			}
			if !tc.refunded && !slices.Equal(h, []string{"started-order", "failed-point"}) {
				t.Errorf("history = %v, want started-order, failed-point", h)
			}
		})
	}
}

func TestIdempotencyKey(t *testing.T) {
	t.Parallel()
	user, ticket := uniq("idem"), uniq("show")
	stack.seedAccount(t, user, 10000)
	stack.seedTicket(t, ticket, 500, 10)
	body := order(user, ticket, 2, 1000)

	first := stack.buy(t, user, "", body, "Idempotency-Key", "buy-1")
	mustStatus(t, first, http.StatusCreated)
	again := stack.buy(t, user, "", body, "Idempotency-Key", "buy-1")
	mustStatus(t, again, http.StatusCreated)
	if first.str("order_id") != again.str("order_id") {
		t.Fatalf("replay made a new order: %s then %s", first.str("order_id"), again.str("order_id"))
	}
	if got := stack.balance(t, user); got != 9000 {
		t.Errorf("balance = %d, want 9000 (charged once)", got)
	}
	if got := stack.stock(t, ticket); got != 8 {
		t.Errorf("stock = %d, want 8", got)
	}

	other := stack.buy(t, user, "", order(user, ticket, 1, 500), "Idempotency-Key", "buy-1")
	mustStatus(t, other, http.StatusUnprocessableEntity)
	if other.str("error", "code") != "idempotency_key_reused" {
		t.Errorf("body = %s", other.Raw)
	}
	if got := stack.balance(t, user); got != 9000 {
		t.Errorf("balance after 422 = %d, want 9000", got)
	}

	// Keys are scoped per user: another user's same key is a new order.
	user2 := uniq("idem")
	stack.seedAccount(t, user2, 10000)
	r := stack.buy(t, user2, "", order(user2, ticket, 2, 1000), "Idempotency-Key", "buy-1")
	mustStatus(t, r, http.StatusCreated)
	if r.str("order_id") == first.str("order_id") {
		t.Error("a key was shared across users")
	}
}

func TestLongPoll(t *testing.T) {
	t.Parallel()
	user, ticket := uniq("lp"), uniq("lpt")
	stack.seedAccount(t, user, 1000)
	stack.seedTicket(t, ticket, 100, 1)

	r := stack.buy(t, user, "?wait=0s", order(user, ticket, 1, 100))
	mustStatus(t, r, http.StatusAccepted)
	loc := r.Header.Get("Location")
	if loc != "/orders/"+r.str("order_id") || r.str("status") != "pending" {
		t.Fatalf("Location %q, body %s", loc, r.Raw)
	}
	g := stack.orderOf(t, user, loc+"?wait=30s")
	mustStatus(t, g, http.StatusOK)
	if g.str("status") != "completed" {
		t.Fatalf("after long-poll: %s", g.Raw)
	}
	if got := stack.balance(t, user); got != 900 {
		t.Errorf("balance = %d, want 900", got)
	}
}

func TestUnknownOrder(t *testing.T) {
	t.Parallel()
	r := stack.orderOf(t, uniq("nobody"), "/orders/"+uniq("nope")+"?wait=0s")
	mustStatus(t, r, http.StatusNotFound)
	if r.str("error", "code") == "" {
		t.Errorf("body = %s", r.Raw)
	}
}

func TestBadInput(t *testing.T) {
	t.Parallel()
	user, ticket := uniq("bad"), uniq("badt")
	stack.seedAccount(t, user, 1000)
	stack.seedTicket(t, ticket, 100, 5)
	valid := `{"user_id":"` + user + `","ticket_id":"` + ticket + `","quantity":1,"price":100}`
	for _, tc := range []struct {
		name, method, path, body string
		header                   []string
		want                     int
	}{
		{"not json", "POST", "/orders", `{`, nil, 400},
		{"empty", "POST", "/orders", ``, nil, 400},
		{"unknown field", "POST", "/orders", strings.Replace(valid, `"quantity"`, `"coupon":1,"quantity"`, 1), nil, 400},
		{"wrong type", "POST", "/orders", strings.Replace(valid, `"quantity":1`, `"quantity":"1"`, 1), nil, 400},
		{"missing price", "POST", "/orders", strings.Replace(valid, `,"price":100`, ``, 1), nil, 400},
		{"zero quantity", "POST", "/orders", strings.Replace(valid, `"quantity":1`, `"quantity":0`, 1), nil, 400},
		{"negative price", "POST", "/orders", strings.Replace(valid, `"price":100`, `"price":-100`, 1), nil, 400},
		{"bad user id", "POST", "/orders", strings.Replace(valid, user, "a/b", 1), nil, 400},
		{"long id", "POST", "/orders", strings.Replace(valid, user, strings.Repeat("x", 129), 1), nil, 400},
		{"huge body", "POST", "/orders", `{"user_id":"` + strings.Repeat("x", 70000) + `"}`, nil, 413},
		{"bad wait", "POST", "/orders?wait=forever", valid, nil, 400},
		{"wait too long", "POST", "/orders?wait=61s", valid, nil, 400},
		{"long key", "POST", "/orders", valid, []string{"Idempotency-Key", strings.Repeat("k", 256)}, 400},
		{"negative balance", "PUT", "/accounts/" + user, `{"balance":-1}`, nil, 400},
		{"balance missing", "PUT", "/accounts/" + user, `{}`, nil, 400},
		{"zero price ticket", "PUT", "/tickets/" + ticket, `{"price":0,"stock":1}`, nil, 400},
		{"negative stock", "PUT", "/tickets/" + ticket, `{"price":1,"stock":-1}`, nil, 400},
		{"ticket extra field", "PUT", "/tickets/" + ticket, `{"price":1,"stock":1,"x":1}`, nil, 400},
		{"bad ticket id", "PUT", "/tickets/a%2Fb", `{"price":1,"stock":1}`, nil, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := stack.order
			switch {
			case strings.HasPrefix(tc.path, "/accounts"):
				base = stack.point
			case strings.HasPrefix(tc.path, "/tickets"):
				base = stack.ticket
			}
			header := tc.header
			if base == stack.order {
				header = stack.bearer(t, user, header...)
			}
			r := do(t, tc.method, base+tc.path, tc.body, header...)
			mustStatus(t, r, tc.want)
			if r.str("error", "code") == "" || r.str("error", "message") == "" {
				t.Errorf("error body = %s", r.Raw)
			}
		})
	}
	if got := stack.balance(t, user); got != 1000 {
		t.Errorf("balance = %d, want 1000 unchanged", got)
	}
	if got := stack.stock(t, ticket); got != 5 {
		t.Errorf("stock = %d, want 5 unchanged", got)
	}
	if r := do(t, "GET", stack.ticket+"/tickets/"+ticket, nil); r.Body["price"].(float64) != 100 {
		t.Errorf("ticket changed: %s", r.Raw)
	}
}

// TestGarbagePush sends what Pub/Sub never should to every push endpoint:
// each is acked (so it is not retried forever), logged, and changes nothing.
func TestGarbagePush(t *testing.T) {
	t.Parallel()
	user, ticket := uniq("gp"), uniq("gpt")
	stack.seedAccount(t, user, 1000)
	stack.seedTicket(t, ticket, 100, 5)
	garbage := []string{
		``, `nope`, `{}`, `{"message":{}}`, `{"message":{"data":"!!notbase64"}}`,
		`{"message":{"data":"bm90IGpzb24=","attributes":{"event_type":"started-order","order_id":"o1"}}}`,
		`{"message":{"data":"e30=","attributes":{"event_type":"consumed-point","order_id":"o1"}}}`,
		// A well-formed envelope whose id does not match its attribute.
		`{"message":{"data":"` + b64(`{"id":"x","order":{"user_id":"`+user+`","ticket_id":"`+ticket+`","quantity":1,"price":100}}`) +
			`","attributes":{"event_type":"started-order","order_id":"y"}}}`,
		// A refund cause that is missing.
		`{"message":{"data":"` + b64(`{"id":"x","order":{"user_id":"`+user+`","ticket_id":"`+ticket+`","quantity":1,"price":100}}`) +
			`","attributes":{"event_type":"failed-ticket","order_id":"x"}}}`,
		// A settle event for an order that does not exist.
		`{"message":{"data":"` + b64(`{"id":"ghost","order":{"user_id":"`+user+`","ticket_id":"`+ticket+`","quantity":1,"price":100}}`) +
			`","attributes":{"event_type":"granted-ticket","order_id":"ghost"}}}`,
		`{"message":{"data":"e30=","attributes":{"event_type":"no-such-event","order_id":"o1"}}}`,
	}
	for _, s := range stack.decl.Subscriptions {
		base := map[string]string{"order-service": stack.order, "point-service": stack.point, "ticket-service": stack.ticket}[s.Service]
		for _, g := range garbage {
			r := do(t, "POST", base+s.PushPath, g)
			if r.Status != http.StatusNoContent && r.Status != http.StatusOK {
				t.Errorf("%s answered %d to %q", s.PushPath, r.Status, g)
			}
		}
	}
	for _, base := range []string{stack.order, stack.point, stack.ticket} {
		mustStatus(t, do(t, "GET", base+"/healthz", nil), 200)
	}
	if got := stack.balance(t, user); got != 1000 {
		t.Errorf("balance = %d, want 1000", got)
	}
	if got := stack.stock(t, ticket); got != 5 {
		t.Errorf("stock = %d, want 5", got)
	}
}

// TestConcurrentSoldOut: 40 concurrent orders from 20 users for 10 tickets.
func TestConcurrentSoldOut(t *testing.T) {
	t.Parallel()
	ticket := uniq("flash")
	stack.seedTicket(t, ticket, 100, 10)
	const users, perUser, initial = 20, 2, 1000
	var ids []string
	for i := 0; i < users; i++ {
		u := uniq("fan")
		stack.seedAccount(t, u, initial)
		ids = append(ids, u)
	}
	type result struct {
		user   string
		status int
		reason string
	}
	results := make(chan result, users*perUser)
	var wg sync.WaitGroup
	for _, u := range ids {
		for j := 0; j < perUser; j++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := stack.buy(t, u, "?wait=60s", order(u, ticket, 1, 100))
				results <- result{u, r.Status, r.str("reason")}
			}()
		}
	}
	wg.Wait()
	close(results)
	completed := map[string]int64{}
	var ok, soldOut int
	for r := range results {
		switch {
		case r.status == http.StatusCreated:
			ok++
			completed[r.user]++
		case r.status == http.StatusConflict && r.reason == "sold_out":
			soldOut++
		default:
			t.Errorf("user %s: status %d reason %q", r.user, r.status, r.reason)
		}
	}
	if ok != 10 || soldOut != 30 {
		t.Errorf("%d completed and %d sold_out, want 10 and 30", ok, soldOut)
	}
	if got := stack.stock(t, ticket); got != 0 {
		t.Errorf("stock = %d, want 0", got)
	}
	for _, u := range ids {
		if got, want := stack.balance(t, u), initial-100*completed[u]; got != want {
			t.Errorf("%s balance = %d, want %d", u, got, want)
		}
		if got := stack.owned(t, u)[ticket]; got != completed[u] {
			t.Errorf("%s owns %d, want %d", u, got, completed[u])
		}
	}
}

// TestLongPollOnAnotherInstance: orders are placed on a second
// order-service instance that gets no pushes, so the first one settles
// them. The second instance's long-poll hears each settle through its
// listener: the first after it gave up hearing it in process (LISTEN_AFTER),
// the next ones with the listener open at once, since settles elsewhere are
// now expected. A GET there long-polls the same way.
func TestLongPollOnAnotherInstance(t *testing.T) {
	t.Parallel()
	app, err := build(orderservice.LoadConfig, orderservice.New)(context.Background(), stack.getenv, stack.log(saga.OrderService), serve.Options{})
	if err != nil {
		t.Fatal(err)
	}
	second := httptest.NewServer(app.Handler())
	t.Cleanup(func() { second.Close(); app.Close() })

	user, ticket := uniq("lp"), uniq("lpt")
	stack.seedAccount(t, user, 1000)
	stack.seedTicket(t, ticket, 100, 5)
	for i := range 3 {
		r := do(t, "POST", second.URL+"/orders?wait=20s", order(user, ticket, 1, 100), stack.bearer(t, user)...)
		mustStatus(t, r, http.StatusCreated)
		if r.str("status") != "completed" || len(historyTypes(r)) != 3 {
			t.Fatalf("order %d = %s", i, r.Raw)
		}
	}
	r := do(t, "POST", second.URL+"/orders?wait=0s", order(user, ticket, 1, 100), stack.bearer(t, user)...)
	mustStatus(t, r, http.StatusAccepted)
	g := do(t, "GET", second.URL+r.Header.Get("Location")+"?wait=20s", nil, stack.bearer(t, user)...)
	mustStatus(t, g, http.StatusOK)
	if g.str("status") != "completed" {
		t.Fatalf("GET order = %s", g.Raw)
	}
	if got := stack.balance(t, user); got != 600 {
		t.Errorf("balance = %d, want 600", got)
	}
}
