package e2e

import (
	"net/http"
	"sync"
	"testing"
)

// TestShardsAtPut: a PUT may say how many documents a ticket type's stock
// is split over; without, the stock decides up to the service's default;
// out of 1-10,000 is 400. Every ticket of a sharded type sells, and no more.
func TestShardsAtPut(t *testing.T) {
	t.Parallel()
	s := stack
	put := func(id string, body map[string]any) resp {
		return do(t, "PUT", s.ticket+"/tickets/"+id, body)
	}
	sized, small := uniq("sharded"), uniq("small")
	if r := put(sized, map[string]any{"price": 10, "stock": 7, "shards": 3}); r.Status != http.StatusOK || r.Body["shards"] != 3.0 {
		t.Fatalf("PUT with 3 shards: %d %s", r.Status, r.Raw)
	}
	if r := put(small, map[string]any{"price": 10, "stock": 2}); r.Status != http.StatusOK || r.Body["shards"] != 2.0 {
		t.Fatalf("PUT of 2 tickets without shards: %d %s, want 2 shards", r.Status, r.Raw)
	}
	for _, bad := range []any{0, 10001, -1, 1.5, "3"} {
		r := put(uniq("bad-shards"), map[string]any{"price": 10, "stock": 7, "shards": bad})
		if r.Status != http.StatusBadRequest {
			t.Errorf("PUT with shards %v: %d %s, want 400", bad, r.Status, r.Raw)
		}
	}
	if r := do(t, "GET", s.ticket+"/tickets/"+sized, nil); r.Body["shards"] != 3.0 || r.Body["stock"] != 7.0 {
		t.Fatalf("GET: %s", r.Raw)
	}

	// 7 tickets over 3 shards (3, 2, 2): 3 orders of 2 sell 6, then 1 is
	// left; an order of 2 fails sold out, an order of 1 takes the last.
	user := uniq("shard-buyer")
	s.seedAccount(t, user, 1000)
	for range 3 {
		mustStatus(t, s.buy(t, user, "?wait=30s", order(user, sized, 2, 20)), http.StatusCreated)
	}
	if r := s.buy(t, user, "?wait=30s", order(user, sized, 2, 20)); r.Status != http.StatusConflict || r.str("reason") != "sold_out" {
		t.Fatalf("the 4th order of 2: %d %s, want 409 sold_out", r.Status, r.Raw)
	}
	mustStatus(t, s.buy(t, user, "?wait=30s", order(user, sized, 1, 10)), http.StatusCreated)
	if st := s.stock(t, sized); st != 0 {
		t.Errorf("stock %d, want 0", st)
	}
	if got := s.owned(t, user)[sized]; got != 7 {
		t.Errorf("owned %d, want 7", got)
	}
}

// TestThousandsOfShardsOverHTTP: a ticket type of 4,096 shards is put,
// read, bought from by buyers at once, sold out exactly (every ticket
// once, then sold_out) and read again.
func TestThousandsOfShardsOverHTTP(t *testing.T) {
	t.Parallel()
	s := stack
	const shards, tickets, buyers = 4096, 24, 30
	arena := uniq("arena")
	if r := do(t, "PUT", s.ticket+"/tickets/"+arena, map[string]any{"price": 10, "stock": tickets, "shards": shards}); r.Status != http.StatusOK ||
		r.Body["shards"] != float64(shards) || r.Body["stock"] != float64(tickets) {
		t.Fatalf("PUT with %d shards: %d %s", shards, r.Status, r.Raw)
	}
	if r := do(t, "GET", s.ticket+"/tickets/"+arena, nil); r.Body["shards"] != float64(shards) || r.Body["stock"] != float64(tickets) {
		t.Fatalf("GET: %s", r.Raw)
	}
	users := make([]string, buyers)
	for i := range users {
		users[i] = uniq("arena-fan")
		s.seedAccount(t, users[i], 100)
	}
	statuses := make([]int, buyers)
	reasons := make([]string, buyers)
	var wg sync.WaitGroup
	for i, u := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := s.buy(t, u, "?wait=30s", order(u, arena, 1, 10))
			statuses[i], reasons[i] = r.Status, r.str("reason")
		}()
	}
	wg.Wait()
	completed, soldOut := 0, 0
	for i := range statuses {
		switch {
		case statuses[i] == http.StatusCreated:
			completed++
		case statuses[i] == http.StatusConflict && reasons[i] == "sold_out":
			soldOut++
		default:
			t.Errorf("order %d: %d %s", i, statuses[i], reasons[i])
		}
	}
	if completed != tickets || soldOut != buyers-tickets {
		t.Fatalf("%d completed, %d sold out; want %d and %d", completed, soldOut, tickets, buyers-tickets)
	}
	if st := s.stock(t, arena); st != 0 {
		t.Errorf("stock %d after the sale, want 0", st)
	}
	owned := int64(0)
	for _, u := range users {
		owned += s.owned(t, u)[arena]
	}
	if owned != tickets {
		t.Errorf("%d tickets owned, want %d", owned, tickets)
	}
}
