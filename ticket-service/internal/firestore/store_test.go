package firestore

import (
	"context"
	"maps"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/ticketsaga/saga/shared/event"
	"github.com/ticketsaga/saga/shared/platform/emutest"
	"github.com/ticketsaga/saga/shared/saga"
	"github.com/ticketsaga/saga/ticket-service/internal/app"
	"github.com/ticketsaga/saga/ticket-service/internal/ticket"
	"github.com/ticketsaga/saga/ticket-service/records"
)

func grant(in event.Envelope) app.GrantDecide {
	req := ticket.Request{UserID: in.Order.UserID, TicketID: in.Order.TicketID, Quantity: in.Order.Quantity, Price: in.Order.Price}
	return func(s ticket.Saga, t *ticket.Ticket, typeErr error, available int64) (ticket.GrantResult, saga.Outcome, error) {
		res := ticket.Grant(s, t, available, req)
		if res.Reason != "" {
			return res, saga.Outcome{Event: saga.FailedTicket, Reason: res.Reason}, nil
		}
		return res, saga.Outcome{Event: saga.GrantedTicket}, nil
	}
}

// TestStore runs the adapter against the Firestore emulator: a ticket type
// split over shards, grants that take from one shard or, near sell-out,
// from all of them, the user's holdings, a cancel that gives the stock
// back, and a re-PUT that drops the shards it no longer needs.
func TestStore(t *testing.T) {
	t.Parallel()
	p := emutest.New(t)
	ctx := context.Background()
	s := New(p.FS, p.Outbox(records.Sagas, saga.TicketService), 4)
	if _, err := s.Ticket(ctx, "none"); saga.KindOf(err) != saga.NotFound {
		t.Fatalf("Ticket(none) = %v, want NotFound", err)
	}
	if err := s.PutTicket(ctx, "show", 10, 5, 0); err != nil {
		t.Fatal(err)
	}
	if st, err := s.Ticket(ctx, "show"); err != nil || st != (app.Stock{Price: 10, Stock: 5, Shards: 4}) {
		t.Fatalf("Ticket = %+v, %v", st, err)
	}
	order := func(id string, qty int64) event.Envelope {
		return event.Envelope{ID: id, Order: &event.Order{UserID: "alice", TicketID: "show", Quantity: qty, Price: 10 * qty}}
	}
	// 5 tickets over 4 shards (2, 1, 1, 1): 4 at once needs every shard.
	for _, tc := range []struct {
		id   string
		qty  int64
		want saga.EventType
	}{{"o1", 1, saga.GrantedTicket}, {"o2", 4, saga.GrantedTicket}, {"o3", 1, saga.FailedTicket}} {
		m, err := s.Grant(ctx, order(tc.id, tc.qty), grant(order(tc.id, tc.qty)))
		if err != nil || m.Type != tc.want {
			t.Fatalf("grant %s = %+v, %v, want %s", tc.id, m, err, tc.want)
		}
	}
	if st, _ := s.Ticket(ctx, "show"); st.Stock != 0 {
		t.Fatalf("stock %d after selling out", st.Stock)
	}
	if h, err := s.Holdings(ctx, "alice"); err != nil || len(h) != 2 {
		t.Fatalf("holdings %+v, %v", h, err)
	}
	// The saga says which shards its 4 tickets came from; the cancel puts
	// each back where it came from.
	rec, err := records.ReadSaga(ctx, p.FS, "o2")
	if err != nil || rec == nil || rec.State != records.StateGranted || rec.Quantity != 4 {
		t.Fatalf("saga o2 = %+v, %v", rec, err)
	}
	taken := rec.Taken
	if sum, _ := records.SumStock(slices.Collect(maps.Values(taken))); sum != 4 {
		t.Fatalf("o2 took %v, want 4 in all", taken)
	}
	m, err := s.Cancel(ctx, order("o2", 4), func(sg ticket.Saga) (ticket.CancelResult, saga.Outcome, error) {
		return ticket.Cancel(sg), saga.Outcome{Event: saga.CanceledTicket, Reason: saga.ReasonTimeout}, nil
	})
	if err != nil || m.Type != saga.CanceledTicket {
		t.Fatalf("cancel = %+v, %v", m, err)
	}
	if st, _ := s.Ticket(ctx, "show"); st.Stock != 4 {
		t.Fatalf("stock %d after the cancel, want 4", st.Stock)
	}
	for k := range 4 {
		snap, err := s.shardRef("show", k).Get(ctx)
		var sh records.Shard
		if err == nil {
			err = snap.DataTo(&sh)
		}
		if err != nil || sh.Stock != taken[strconv.Itoa(k)] || sh.HasStock != (sh.Stock > 0) {
			t.Errorf("shard %d after the cancel = %+v, %v; o2 took %v", k, sh, err, taken)
		}
	}
	if rec, _ := records.ReadSaga(ctx, p.FS, "o2"); rec == nil || rec.State != records.StateCancelled || rec.Taken != nil {
		t.Errorf("saga o2 after the cancel = %+v", rec)
	}

	one := New(p.FS, p.Outbox(records.Sagas, saga.TicketService), 1)
	if err := one.PutTicket(ctx, "show", 10, 3, 0); err != nil {
		t.Fatal(err)
	}
	if snaps, err := s.shardsOf("show").Documents(ctx).GetAll(); err != nil || len(snaps) != 1 {
		t.Fatalf("%d shards after a re-PUT over 1, %v", len(snaps), err)
	}
	if st, err := s.Ticket(ctx, "show"); err != nil || st.Stock != 3 {
		t.Fatalf("after the re-PUT: %+v, %v", st, err)
	}

	// A PUT that names its shards gets them, whatever the store's default;
	// without, a stock smaller than the default gets a shard per ticket.
	for _, c := range []struct {
		stock       int64
		shards      int
		wantShards  int
		wantInShard []int64
	}{{40, 7, 7, []int64{6, 6, 6, 6, 6, 5, 5}}, {2, 0, 2, []int64{1, 1}}, {0, 0, 1, []int64{0}}} {
		if err := s.PutTicket(ctx, "sized", 10, c.stock, c.shards); err != nil {
			t.Fatal(err)
		}
		st, err := s.Ticket(ctx, "sized")
		snaps, _ := s.shardsOf("sized").Documents(ctx).GetAll()
		in := make([]int64, len(snaps))
		for _, sn := range snaps {
			var d records.Shard
			_ = sn.DataTo(&d)
			if sn.Ref.ID != records.ShardID("sized", d.Index) || d.TicketID != "sized" {
				t.Errorf("shard %s holds %+v", sn.Ref.ID, d)
			}
			if d.Index < len(in) {
				in[d.Index] = d.Stock
			}
		}
		if err != nil || st.Shards != c.wantShards || st.Stock != c.stock || !slices.Equal(in, c.wantInShard) {
			t.Errorf("PUT stock %d shards %d: %+v, %v, shards hold %v; want %d shards holding %v", c.stock, c.shards, st, err, in, c.wantShards, c.wantInShard)
		}
	}
}

// TestStaleShardCount: an instance that remembers a ticket type's old shard
// count, after another instance re-PUT it with fewer or more shards, still
// sells exactly the stock there is: a shard that is gone sends the grant
// to the path that finds the shards holding stock, and one it does not
// know of waits for that path.
func TestStaleShardCount(t *testing.T) {
	t.Parallel()
	p := emutest.New(t)
	ctx := context.Background()
	stale := New(p.FS, p.Outbox(records.Sagas, saga.TicketService), 16)
	other := New(p.FS, p.Outbox(records.Sagas, saga.TicketService), 16)
	n := 0
	sell := func(ticketID string, want int) {
		t.Helper()
		sold := 0
		for range want + 2 {
			n++
			in := event.Envelope{ID: "o" + strconv.Itoa(n), Order: &event.Order{UserID: "bob", TicketID: ticketID, Quantity: 1, Price: 10}}
			m, err := stale.Grant(ctx, in, grant(in))
			if err != nil {
				t.Fatal(err)
			}
			if m.Type == saga.GrantedTicket {
				sold++
			}
		}
		st, err := other.Ticket(ctx, ticketID)
		if err != nil || sold != want || st.Stock != 0 {
			t.Fatalf("%s: sold %d of %d, stock left %+v, %v", ticketID, sold, want, st, err)
		}
	}
	for _, c := range []struct{ before, after int }{{8, 2}, {2, 8}} {
		id := "stale-" + strconv.Itoa(c.before)
		if err := stale.PutTicket(ctx, id, 10, 100, c.before); err != nil {
			t.Fatal(err)
		}
		if err := other.PutTicket(ctx, id, 10, int64(c.after), c.after); err != nil {
			t.Fatal(err)
		}
		if got := stale.counts.get(id); got != c.before {
			t.Fatalf("the stale instance remembers %d shards, want %d", got, c.before)
		}
		sell(id, c.after)
	}
}

// TestThousandsOfShards: a type of 4,096 shards is put, sold out exactly
// (every ticket once, then sold_out) and read, by two instances granting
// at once; a grant reads the same few documents whatever the shard count.
func TestThousandsOfShards(t *testing.T) {
	t.Parallel()
	p := emutest.New(t)
	ctx := context.Background()
	a := New(p.FS, p.Outbox(records.Sagas, saga.TicketService), 16)
	b := New(p.FS, p.Outbox(records.Sagas, saga.TicketService), 16)
	const shards, stock = 4096, 48
	if err := a.PutTicket(ctx, "arena", 10, stock, shards); err != nil {
		t.Fatal(err)
	}
	if st, err := b.Ticket(ctx, "arena"); err != nil || st != (app.Stock{Price: 10, Stock: stock, Shards: shards}) {
		t.Fatalf("Ticket = %+v, %v", st, err)
	}
	// The shards are scattered over the collection's keys: their ids do
	// not share a prefix.
	prefixes := map[string]bool{}
	for k := range 64 {
		prefixes[records.ShardID("arena", k)[:2]] = true
	}
	if len(prefixes) < 32 {
		t.Errorf("64 shards' ids begin with only %d different prefixes", len(prefixes))
	}
	var (
		mu      sync.Mutex
		granted int
		soldOut int
		n       atomic.Int64
	)
	var wg sync.WaitGroup
	for _, inst := range []*Store{a, b} {
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := n.Add(1)
					if i > stock+8 {
						return
					}
					in := event.Envelope{ID: "arena-" + strconv.FormatInt(i, 10), Order: &event.Order{UserID: "fan", TicketID: "arena", Quantity: 1, Price: 10}}
					// A grant that fails (its shards contended until the
					// emulator's lock wait ran out) is redelivered, as
					// Pub/Sub would; the saga document keeps it once.
					var m event.Message
					var err error
					for try := 0; try < 10; try++ {
						if m, err = inst.Grant(ctx, in, grant(in)); err == nil {
							break
						}
						t.Logf("redelivering %s: %v", in.ID, err)
					}
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					switch m.Type {
					case saga.GrantedTicket:
						granted++
					case saga.FailedTicket:
						soldOut++
					}
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	if granted != stock || soldOut != 8 {
		t.Fatalf("granted %d, failed %d; want %d and 8", granted, soldOut, stock)
	}
	if st, err := a.Ticket(ctx, "arena"); err != nil || st.Stock != 0 {
		t.Fatalf("after the sale: %+v, %v", st, err)
	}
	if h, err := a.Holdings(ctx, "fan"); err != nil || len(h) != stock {
		t.Fatalf("holdings %d, %v", len(h), err)
	}
}

// TestFindStockSeesEveryShardHoldingStock: from whatever random point it
// starts, the last-tickets search returns every shard that holds stock
// when there are fewer than it asks for (and says so), and distinct
// shards, not all of them, when there are more.
func TestFindStockSeesEveryShardHoldingStock(t *testing.T) {
	t.Parallel()
	p := emutest.New(t)
	ctx := context.Background()
	s := New(p.FS, p.Outbox(records.Sagas, saga.TicketService), 16)
	if err := s.PutTicket(ctx, "few", 10, 5, 64); err != nil {
		t.Fatal(err)
	}
	for range 20 {
		snaps, complete, err := s.findStock(ctx, "few", 17)
		if err != nil || len(snaps) != 5 || !complete {
			t.Fatalf("findStock(17) = %d shards, complete %v, %v; want the 5 holding stock, complete", len(snaps), complete, err)
		}
		snaps, complete, err = s.findStock(ctx, "few", 3)
		seen := map[string]bool{}
		for _, sn := range snaps {
			seen[sn.Ref.ID] = true
		}
		if err != nil || len(seen) != 3 || complete {
			t.Fatalf("findStock(3) = %d distinct shards, complete %v, %v; want 3, not complete", len(seen), complete, err)
		}
	}
}
