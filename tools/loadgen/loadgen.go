// Package loadgen drives a running saga over its HTTP API only, the way
// users do: it seeds accounts and tickets, places orders concurrently,
// waits for them to settle, and checks the guarantees of the contract's guarantees (docs/contract.md)
// against what every user was told.
package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/ticketsaga/saga/shared/platform/config"
	"github.com/ticketsaga/saga/tools/authemu"
)

// Client talks to the three services, as the buyers it signs in to the
// Auth emulator.
type Client struct {
	Order, Point, Ticket string
	// MoreOrders are more instances of order-service: orders and
	// long-polls are spread over them and Order, as a load balancer
	// spreads them over Cloud Run's instances.
	MoreOrders []string
	HTTP       *http.Client
	Buyers     *authemu.Client
}

// orderURL is the order-service instance for key: one of Order and
// MoreOrders, the same for the same key.
func (c *Client) orderURL(key string) string {
	if len(c.MoreOrders) == 0 {
		return c.Order
	}
	h := fnv.New32a()
	h.Write([]byte(key))
	if i := int(h.Sum32() % uint32(len(c.MoreOrders)+1)); i > 0 {
		return c.MoreOrders[i-1]
	}
	return c.Order
}

// NewClient returns a client with a connection pool sized for load, its
// buyers signed in to the Auth emulator the environment names.
func NewClient(order, point, ticket string) *Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost = 512, 256
	return &Client{Order: order, Point: point, Ticket: ticket, HTTP: &http.Client{Transport: tr, Timeout: 90 * time.Second},
		Buyers: authemu.FromEnv(config.DefaultProject)}
}

// as returns the Authorization header of user, with more headers.
func (c *Client) as(ctx context.Context, user string, more map[string]string) (map[string]string, error) {
	tok, err := c.Buyers.Token(ctx, user)
	if err != nil {
		return nil, err
	}
	h := map[string]string{"Authorization": "Bearer " + tok}
	for k, v := range more {
		h[k] = v
	}
	return h, nil
}

func (c *Client) do(ctx context.Context, method, url string, body any, header map[string]string, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := c.HTTP.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return res.StatusCode, err
	}
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			return res.StatusCode, fmt.Errorf("%s %s: %d %s", method, url, res.StatusCode, raw)
		}
	}
	return res.StatusCode, nil
}

func (c *Client) expect(ctx context.Context, method, url string, body any, want int, out any) error {
	st, err := c.do(ctx, method, url, body, nil, out)
	if err != nil {
		return err
	}
	if st != want {
		return fmt.Errorf("%s %s: status %d, want %d", method, url, st, want)
	}
	return nil
}

// SeedAccount sets a user's balance.
func (c *Client) SeedAccount(ctx context.Context, user string, balance int64) error {
	return c.expect(ctx, "PUT", c.Point+"/accounts/"+user, map[string]int64{"balance": balance}, 200, nil)
}

// SeedTicket creates or replaces a ticket type.
func (c *Client) SeedTicket(ctx context.Context, id string, price, stock int64) error {
	return c.expect(ctx, "PUT", c.Ticket+"/tickets/"+id, map[string]int64{"price": price, "stock": stock}, 200, nil)
}

// SeedShardedTicket creates or replaces a ticket type with its stock split
// over shards documents (1 to 100).
func (c *Client) SeedShardedTicket(ctx context.Context, id string, price, stock int64, shards int) error {
	return c.expect(ctx, "PUT", c.Ticket+"/tickets/"+id, map[string]int64{"price": price, "stock": stock, "shards": int64(shards)}, 200, nil)
}

// Balance reads a user's balance.
func (c *Client) Balance(ctx context.Context, user string) (int64, error) {
	var a struct{ Balance int64 }
	return a.Balance, c.expect(ctx, "GET", c.Point+"/accounts/"+user, nil, 200, &a)
}

// Stock reads a ticket type's stock.
func (c *Client) Stock(ctx context.Context, id string) (int64, error) {
	var t struct{ Stock int64 }
	return t.Stock, c.expect(ctx, "GET", c.Ticket+"/tickets/"+id, nil, 200, &t)
}

// Owned reads how many tickets of each type a user owns.
func (c *Client) Owned(ctx context.Context, user string) (map[string]int64, error) {
	var h struct {
		Tickets []struct {
			TicketID string `json:"ticket_id"`
			Count    int64  `json:"count"`
		}
	}
	if err := c.expect(ctx, "GET", c.Ticket+"/users/"+user+"/tickets", nil, 200, &h); err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for _, t := range h.Tickets {
		out[t.TicketID] = t.Count
	}
	return out, nil
}

// Order is the order JSON, as far as the checks need it.
type Order struct {
	OrderID  string `json:"order_id"`
	UserID   string `json:"user_id"`
	TicketID string `json:"ticket_id"`
	Quantity int64  `json:"quantity"`
	Price    int64  `json:"price"`
	Status   string `json:"status"`
	Reason   string `json:"reason"`
	// UpdatedAt of a terminal order is when it ended.
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Answer is what a POST /orders answered.
type Answer struct {
	Status   int
	Order    Order
	Latency  time.Duration
	Attempts int
}

// retryFor is how long PlaceOrder keeps retrying: longer than a service
// restart or a drill's outage.
const retryFor = 60 * time.Second

// PlaceOrder posts an order with an Idempotency-Key; on a transport error
// or a 5xx it retries with the same key, with a backoff, for up to a
// minute, as a careful client does.
func (c *Client) PlaceOrder(ctx context.Context, user, ticket string, qty, price int64, key string, wait time.Duration) (Answer, error) {
	body := map[string]any{"user_id": user, "ticket_id": ticket, "quantity": qty, "price": price}
	header, err := c.as(ctx, user, map[string]string{"Idempotency-Key": key})
	if err != nil {
		return Answer{}, err
	}
	start := time.Now()
	for attempt := 1; ; attempt++ {
		var o Order
		st, err := c.do(ctx, "POST", fmt.Sprintf("%s/orders?wait=%s", c.orderURL(key), wait), body, header, &o)
		if err == nil && st >= 500 {
			err = fmt.Errorf("status %d", st)
		}
		if err == nil {
			return Answer{Status: st, Order: o, Latency: time.Since(start), Attempts: attempt}, nil
		}
		if time.Since(start) > retryFor || ctx.Err() != nil {
			return Answer{Attempts: attempt}, fmt.Errorf("place order %s: %w", key, err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(min(time.Duration(attempt)*50*time.Millisecond, time.Second)):
		}
	}
}

// Await long-polls user's order until it is terminal or wait runs out.
func (c *Client) Await(ctx context.Context, user, id string, wait time.Duration) (Order, error) {
	header, err := c.as(ctx, user, nil)
	if err != nil {
		return Order{}, err
	}
	var o Order
	st, err := c.do(ctx, "GET", fmt.Sprintf("%s/orders/%s?wait=%s", c.orderURL(id), id, wait), nil, header, &o)
	if err == nil && st != http.StatusOK {
		err = fmt.Errorf("GET /orders/%s: status %d", id, st)
	}
	return o, err
}

// Terminal reports whether an order status is final.
func Terminal(status string) bool {
	return status == "completed" || status == "failed" || status == "cancelled"
}

// Scenario is a workload: users with points, scarce tickets, orders.
type Scenario struct {
	Prefix      string // makes ids unique per run
	Users       int
	Balance     int64
	Tickets     int
	Price       int64
	Stock       int64
	Orders      int
	Concurrency int
	MaxQuantity int
	Wait        time.Duration
	// Pace, when set, starts one order every Pace (a stream) instead of
	// as fast as Concurrency allows.
	Pace time.Duration
}

// Placed is one order of a run: what was asked, and what the user was told.
type Placed struct {
	Key    string
	User   string
	Ticket string
	Qty    int64
	Answer Answer
	Err    error
}

// Run is a seeded, executed scenario.
type Run struct {
	Scenario Scenario
	UserIDs  []string
	Stock    map[string]int64 // initial stock per ticket
	Orders   []Placed
}

// Seed creates the scenario's users and tickets.
func Seed(ctx context.Context, c *Client, sc Scenario) (*Run, error) {
	r := &Run{Scenario: sc, Stock: map[string]int64{}}
	for i := range sc.Tickets {
		id := fmt.Sprintf("%s-ticket-%d", sc.Prefix, i)
		if err := c.SeedTicket(ctx, id, sc.Price, sc.Stock); err != nil {
			return nil, err
		}
		r.Stock[id] = sc.Stock
	}
	for i := range sc.Users {
		u := fmt.Sprintf("%s-user-%d", sc.Prefix, i)
		if err := c.SeedAccount(ctx, u, sc.Balance); err != nil {
			return nil, err
		}
		r.UserIDs = append(r.UserIDs, u)
	}
	return r, nil
}

// Fire places the scenario's orders, Concurrency at a time.
func (r *Run) Fire(ctx context.Context, c *Client) {
	var tickets []string
	for id := range r.Stock {
		tickets = append(tickets, id)
	}
	sc := r.Scenario
	r.Orders = make([]Placed, sc.Orders)
	sem := make(chan struct{}, sc.Concurrency)
	var wg sync.WaitGroup
	var pace <-chan time.Time
	if sc.Pace > 0 {
		t := time.NewTicker(sc.Pace)
		defer t.Stop()
		pace = t.C
	}
	for i := range sc.Orders {
		if pace != nil && i > 0 {
			<-pace
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			p := Placed{Key: fmt.Sprintf("%s-order-%d", sc.Prefix, i), User: r.UserIDs[rand.IntN(len(r.UserIDs))],
				Ticket: tickets[rand.IntN(len(tickets))], Qty: int64(1 + rand.IntN(max(sc.MaxQuantity, 1)))}
			p.Answer, p.Err = c.PlaceOrder(ctx, p.User, p.Ticket, p.Qty, p.Qty*sc.Price, p.Key, sc.Wait)
			r.Orders[i] = p
		}()
	}
	wg.Wait()
}

// Report is the outcome of Verify.
type Report struct {
	Counts     map[string]int // final status → orders
	Violations []string
}

// Settle waits until every order is terminal, or until settle has passed,
// and returns the orders as they ended. It rides out a restarting
// order-service: a refused connection or a 5xx is retried.
func (r *Run) Settle(ctx context.Context, c *Client, settle time.Duration) ([]Order, error) {
	deadline := time.Now().Add(settle)
	finals := make([]Order, len(r.Orders))
	for i, p := range r.Orders {
		if p.Err != nil || p.Answer.Order.OrderID == "" {
			continue
		}
		for {
			left := time.Until(deadline).Truncate(time.Second)
			if left < time.Second {
				left = 0
			}
			var o Order
			header, err := c.as(ctx, p.User, nil)
			if err != nil {
				return nil, err
			}
			st, err := c.do(ctx, "GET", fmt.Sprintf("%s/orders/%s?wait=%s", c.Order, p.Answer.Order.OrderID, min(left, 60*time.Second)), nil, header, &o)
			if err == nil && st == http.StatusOK {
				finals[i] = o
				if Terminal(o.Status) || left == 0 {
					break
				}
				continue
			}
			if time.Now().After(deadline) {
				if err == nil {
					err = fmt.Errorf("status %d", st)
				}
				return nil, fmt.Errorf("await order %s: %w", p.Answer.Order.OrderID, err)
			}
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(200 * time.Millisecond): // the service is restarting
			}
		}
	}
	return finals, nil
}

// Verify checks the guarantees once the system is quiet: every order
// terminal (3), points conserved (1), stock conserved and never negative,
// tickets owned = completed quantities (2), and every answer matching the
// final state (6).
func (r *Run) Verify(ctx context.Context, c *Client, finals []Order) (Report, error) {
	rep := Report{Counts: map[string]int{}}
	bad := func(format string, args ...any) {
		rep.Violations = append(rep.Violations, fmt.Sprintf(format, args...))
	}
	spent := map[string]int64{}
	sold := map[string]int64{}
	owned := map[string]map[string]int64{}
	for i, p := range r.Orders {
		if p.Err != nil {
			bad("order %s: no answer: %v", p.Key, p.Err)
			continue
		}
		if p.Answer.Order.OrderID == "" {
			bad("order %s: answered %d without an order", p.Key, p.Answer.Status)
			continue
		}
		final := finals[i]
		rep.Counts[final.Status]++
		if !Terminal(final.Status) {
			bad("order %s still %s", final.OrderID, final.Status)
			continue
		}
		switch p.Answer.Status {
		case http.StatusCreated:
			if final.Status != "completed" {
				bad("order %s: answered 201, now %s", final.OrderID, final.Status)
			}
		case http.StatusConflict:
			if final.Status == "completed" || final.Reason != p.Answer.Order.Reason {
				bad("order %s: answered 409 %s, now %s %s", final.OrderID, p.Answer.Order.Reason, final.Status, final.Reason)
			}
		case http.StatusAccepted:
		default:
			bad("order %s: answered %d", p.Key, p.Answer.Status)
		}
		if final.Status == "completed" {
			spent[p.User] += p.Qty * r.Scenario.Price
			sold[p.Ticket] += p.Qty
			if owned[p.User] == nil {
				owned[p.User] = map[string]int64{}
			}
			owned[p.User][p.Ticket] += p.Qty
		}
	}
	for _, u := range r.UserIDs {
		bal, err := c.Balance(ctx, u)
		if err != nil {
			return rep, err
		}
		if want := r.Scenario.Balance - spent[u]; bal != want {
			bad("user %s: balance %d, want %d", u, bal, want)
		}
		got, err := c.Owned(ctx, u)
		if err != nil {
			return rep, err
		}
		for t := range r.Stock {
			if got[t] != owned[u][t] {
				bad("user %s: owns %d of %s, completed orders hold %d", u, got[t], t, owned[u][t])
			}
		}
	}
	for t, initial := range r.Stock {
		st, err := c.Stock(ctx, t)
		if err != nil {
			return rep, err
		}
		if st < 0 || st != initial-sold[t] {
			bad("ticket %s: stock %d, want %d", t, st, initial-sold[t])
		}
	}
	return rep, nil
}
