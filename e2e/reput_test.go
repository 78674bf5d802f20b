package e2e

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/ticketsaga/saga/shared/platform/serve"
	"github.com/ticketsaga/saga/shared/saga"
	ticketservice "github.com/ticketsaga/saga/ticket-service/service"
)

// TestRePutKeepsStockExact: tickets granted from any of 16 stock shards
// come back exactly after the ticket type was PUT again by an instance
// configured with 2 shards: each cancel puts its tickets into a shard that
// exists now, so the stock is the new stock plus what was cancelled.
func TestRePutKeepsStockExact(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := startStack(t, stackOptions{timeout: 3 * time.Second})
	s.sweeper(t, 250*time.Millisecond)
	ticket := uniq("reputt")
	s.seedTicket(t, ticket, 10, 20)
	var users []string
	for range 4 {
		u := uniq("reput")
		s.seedAccount(t, u, 1000)
		users = append(users, u)
	}
	// The grants happen; their settles are held back, so the orders time
	// out and their grants are cancelled.
	s.deliveries.setHold(func(service string, attrs map[string]string) bool {
		return service == saga.OrderService && attrs[saga.AttrEventType] == string(saga.GrantedTicket)
	})
	ids := map[string]string{}
	for _, u := range users {
		ids[s.place(t, u, ticket, 2, 20)] = u
	}
	deadline := time.Now().Add(20 * time.Second)
	for s.stock(t, ticket) != 12 {
		if time.Now().After(deadline) {
			t.Fatalf("the 4 grants did not happen: stock %d", s.stock(t, ticket))
		}
		time.Sleep(50 * time.Millisecond) // polling the API for a condition
	}

	// Another instance, configured with 2 shards, replaces the ticket.
	other, err := build(ticketservice.LoadConfig, ticketservice.New)(ctx, s.with("STOCK_SHARDS", "2"), s.log(saga.TicketService), serve.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	srv := httptest.NewServer(other.Handler())
	defer srv.Close()
	mustStatus(t, do(t, "PUT", srv.URL+"/tickets/"+ticket, map[string]any{"price": 10, "stock": 100}), http.StatusOK)

	orders := settleAll(t, s.client(), ids, time.Minute)
	for id, o := range orders {
		if o.Status != "cancelled" {
			t.Errorf("order %s = %+v, want cancelled", id, o)
		}
	}
	s.deliveries.setHold(nil)
	s.deliveries.waitQuiet(t, time.Second)
	if got := s.stock(t, ticket); got != 108 {
		t.Errorf("stock = %d, want 108: 100 PUT, and 4 × 2 given back", got)
	}
	for _, u := range users {
		if got := s.balance(t, u); got != 1000 {
			t.Errorf("balance of %s = %d, want 1000", u, got)
		}
		if got := s.owned(t, u); len(got) != 0 {
			t.Errorf("%s owns %v", u, got)
		}
	}
}
