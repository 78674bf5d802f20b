// Package firestore is ticket-service's storage adapter: ticket types with
// their stock split over shards, and one saga document per order whose
// steps run through the typed outbox runner. A user's tickets are the
// granted saga documents, so a grant writes only the stock and the saga.
//
// The shards of every type are one top-level collection, each at an id
// that begins with a hash (records.ShardID), so that a type's thousands of
// shards are scattered over the key range. Nothing but a PUT costs more
// with more shards: a grant reads and writes one shard it leases; near
// sell-out it asks Firestore for a few shards that still hold stock (a
// query bounded by the order's quantity); the stock shown is an
// aggregation Firestore sums from its index.
package firestore

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"

	"cloud.google.com/go/firestore"
	"cloud.google.com/go/firestore/apiv1/firestorepb"
	"golang.org/x/sync/singleflight"
	"google.golang.org/api/iterator"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ticketsaga/saga/shared/event"
	"github.com/ticketsaga/saga/shared/outbox"
	"github.com/ticketsaga/saga/shared/saga"
	"github.com/ticketsaga/saga/ticket-service/internal/app"
	"github.com/ticketsaga/saga/ticket-service/internal/ticket"
	"github.com/ticketsaga/saga/ticket-service/records"
)

// Store reads and writes ticket-service's documents.
type Store struct {
	fs    *firestore.Client
	steps outbox.Runner[records.Saga, *records.Saga]
	// once runs a step in one transaction attempt: a grant that meets
	// contention on its shards moves to others instead of retrying them.
	once   outbox.Runner[records.Saga, *records.Saga]
	shards int
	leases shardLeases
	counts *shardCounts // each ticket type's shard count, as last read here
	// countFlight reads a ticket type's shard count once for the grants
	// that need it at the same moment.
	countFlight singleflight.Group
}

var _ app.Store = (*Store)(nil)

// shardLeases is how a grant chooses its stock shards: the in-process
// leases (leases.go), or, in the local stack's build only, none at all
// (noleases.go, the naive design make bench compares with).
type shardLeases interface {
	// one leases a shard of ticketID's n for one grant; errNoShard when
	// none is believed to hold stock.
	one(ctx context.Context, ticketID string, n int) (int, func(empty bool), error)
	// reserve holds shards for a grant on the last-tickets path; ok false
	// when a grant here holds one of them.
	reserve(ticketID string, shards []int) (release func(), ok bool)
	// heldBy: which shards grants here hold, and a channel closed at the
	// next release.
	heldBy(ticketID string) (func(int) bool, <-chan struct{})
	// refound: the last-tickets path found stock on shards.
	refound(ticketID string, shards []int)
	// forget: a PUT replaced ticketID's shards.
	forget(ticketID string)
}

// New returns a Store whose steps run through steps (on records.Sagas),
// splitting the stock of the ticket types it creates over shards
// documents, which its grants lease in process.
func New(fs *firestore.Client, steps *outbox.Steps, shards int) *Store {
	return newStore(fs, steps, shards, newLeases())
}

func newStore(fs *firestore.Client, steps *outbox.Steps, shards int, leases shardLeases) *Store {
	return &Store{fs: fs, steps: outbox.Runner[records.Saga, *records.Saga]{Steps: steps},
		once: outbox.Runner[records.Saga, *records.Saga]{Steps: steps, Attempts: 1}, shards: max(shards, 1),
		leases: leases, counts: newShardCounts()}
}

func (s *Store) ticketRef(id string) *firestore.DocumentRef {
	return s.fs.Collection(records.Tickets).Doc(id)
}

func (s *Store) shardRef(ticketID string, k int) *firestore.DocumentRef {
	return s.fs.Collection(records.Shards).Doc(records.ShardID(ticketID, k))
}

// shardsOf is the query of ticketID's shards.
func (s *Store) shardsOf(ticketID string) firestore.Query {
	return s.fs.Collection(records.Shards).Where(records.FieldTicketID, "==", ticketID)
}

// PutTicket creates or replaces a ticket type, its stock split over
// shards documents (0: the default for its stock, up to the store's); the
// shards it had beyond those are deleted.
func (s *Store) PutTicket(ctx context.Context, id string, price, stock int64, shards int) error {
	if shards == 0 {
		shards = records.DefaultShards(stock, s.shards)
	}
	ref := s.ticketRef(id)
	err := s.fs.RunTransaction(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
		snap, err := outbox.GetTx(tx, ref)
		if err != nil {
			return err
		}
		old := 0
		if snap.Exists() {
			var d records.Ticket
			if err := snap.DataTo(&d); err != nil {
				// Replacing a corrupt ticket repairs it: delete every
				// shard it may have had.
				d.Shards = records.MaxShards
			}
			old = min(d.Shards, records.MaxShards)
		}
		if err := tx.Set(ref, records.Ticket{Price: price, Shards: shards}); err != nil {
			return err
		}
		for k, st := range records.Split(stock, shards) {
			if err := tx.Set(s.shardRef(id, k), records.Shard{TicketID: id, Index: k, Stock: st, HasStock: st > 0, Price: price}); err != nil {
				return err
			}
		}
		for k := shards; k < old; k++ {
			if err := tx.Delete(s.shardRef(id, k)); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		s.counts.set(id, shards)
		s.leases.forget(id)
	}
	return err
}

// Ticket returns a ticket type with its stock summed over its shards, or a
// saga.NotFound error.
func (s *Store) Ticket(ctx context.Context, id string) (app.Stock, error) {
	snap, err := s.ticketRef(id).Get(ctx)
	if status.Code(err) == codes.NotFound {
		return app.Stock{}, saga.E(saga.NotFound, "ticket_not_found", "no ticket %s", id)
	}
	if err != nil {
		return app.Stock{}, fmt.Errorf("read ticket %s: %w", id, err)
	}
	return s.stockOf(ctx, snap)
}

// stockOf returns the ticket type read in snap with its stock: the sum of
// its shards, which Firestore computes from the index of the shards'
// ticket_id and stock (one read per 1,000 shards) instead of the service
// reading each shard.
func (s *Store) stockOf(ctx context.Context, snap *firestore.DocumentSnapshot) (app.Stock, error) {
	id := snap.Ref.ID
	d, err := readTicket(snap)
	if err != nil {
		return app.Stock{}, err
	}
	q := s.shardsOf(id)
	res, err := q.NewAggregationQuery().WithSum(records.FieldStock, "stock").Get(ctx)
	if err != nil {
		return app.Stock{}, fmt.Errorf("sum the stock of %s: %w", id, err)
	}
	v, _ := res["stock"].(*firestorepb.Value)
	sum, ok := v.GetValueType().(*firestorepb.Value_IntegerValue)
	if !ok || sum.IntegerValue < 0 {
		return app.Stock{}, saga.CorruptRecord("stock of ticket "+id, fmt.Errorf("shards sum to %v", v))
	}
	return app.Stock{Price: d.Price, Stock: sum.IntegerValue, Shards: d.Shards}, nil
}

// Holdings returns the granted sagas of userID.
func (s *Store) Holdings(ctx context.Context, userID string) ([]ticket.Saga, error) {
	it := s.fs.Collection(records.Sagas).Where(records.FieldUserID, "==", userID).
		Where(records.FieldState, "==", string(records.StateGranted)).Documents(ctx)
	defer it.Stop()
	var out []ticket.Saga
	for {
		snap, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("list tickets of %s: %w", userID, err)
		}
		var rec records.Saga
		if err := snap.DataTo(&rec); err != nil {
			return nil, saga.CorruptRecord("ticket saga "+snap.Ref.ID, err)
		}
		d, err := rec.Domain()
		if err != nil {
			return nil, saga.CorruptRecord("ticket saga "+snap.Ref.ID, err)
		}
		out = append(out, d)
	}
}

// errNeedMore aborts a grant whose one shard cannot serve it, so that it
// runs again on another shard, or on the shards that still hold stock.
var errNeedMore = errors.New("one shard cannot serve the order")

// leaseTries is how many leased shards a grant tries when each was busy
// (its transaction aborted by contention) or empty (another instance sold
// it) before it asks which shards hold stock; a shard that holds too few
// for the order sends it there at once.
const leaseTries = 3

var (
	// errBusy: the leased shard's transaction was aborted by contention.
	errBusy = errors.New("the shard is busy")
	// errEmptyShard: the leased shard held no stock.
	errEmptyShard = errors.New("the shard is empty")
)

// Grant runs the grant step. It reads the saga and one stock shard leased
// to it; only when its shards cannot serve the order (near sell-out, or an
// unknown ticket) does it take the path that asks Firestore which shards
// still hold stock.
func (s *Store) Grant(ctx context.Context, in event.Envelope, decide app.GrantDecide) (event.Message, error) {
	if n := s.shardCount(ctx, in.Order.TicketID); n > 0 {
		for range leaseTries {
			m, err := s.grantFromOneShard(ctx, in, decide, n)
			if !errors.Is(err, errNeedMore) {
				return m, err
			}
			if !errors.Is(err, errBusy) && !errors.Is(err, errEmptyShard) {
				break // the shard could not serve it: near sell-out, ask which can
			}
		}
	}
	return s.grantFromStock(ctx, in, decide)
}

// grantFromOneShard runs the grant on one leased shard of the ticket's n;
// errNeedMore when that shard cannot serve it, or none is believed to hold
// stock.
func (s *Store) grantFromOneShard(ctx context.Context, in event.Envelope, decide app.GrantDecide, n int) (event.Message, error) {
	id := in.Order.TicketID
	k, release, err := s.leases.one(ctx, id, n)
	if errors.Is(err, errNoShard) {
		return event.Message{}, errNeedMore
	}
	if err != nil {
		return event.Message{}, err
	}
	empty := false
	defer func() { release(empty) }() // even when the step panics (the crash switch)
	m, err := s.once.Run(ctx, app.StepGrant, in, []*firestore.DocumentRef{s.shardRef(id, k)},
		func(tx *firestore.Transaction, rec *records.Saga, docs []*firestore.DocumentSnapshot) (saga.Outcome, error) {
			cur, err := rec.Domain()
			if err != nil {
				return saga.Outcome{}, saga.CorruptRecord("ticket saga "+in.ID, err)
			}
			if !docs[0].Exists() {
				empty = true // gone with a re-PUT of fewer shards
				return saga.Outcome{}, errNeedMore
			}
			sh, err := readShard(docs[0])
			if err != nil {
				// A ticket type whose records cannot be read sells nothing.
				_, out, err := decide(cur, nil, err, 0)
				return out, err
			}
			if empty = sh.Stock == 0; empty {
				return saga.Outcome{}, fmt.Errorf("%w: %w", errNeedMore, errEmptyShard)
			}
			if !decidable(sh.Stock, in.Order.Quantity, false) {
				// Too few here to decide on (sold_out is decided on every
				// shard holding stock): the last-tickets path decides.
				return saga.Outcome{}, errNeedMore
			}
			res, out, err := decide(cur, &ticket.Ticket{Price: sh.Price}, nil, sh.Stock)
			if err != nil {
				return saga.Outcome{}, err
			}
			take, out, err := s.granted(tx, rec, id, map[int]int64{k: sh.Stock}, res, out)
			// A shard the grant empties leaves the queue, as one found empty.
			empty = sh.Stock == take[k]
			return out, err
		})
	if status.Code(err) == codes.Aborted {
		// Contention on the shard (another instance wrote it a moment
		// ago): move to another shard rather than wait for this one.
		return event.Message{}, fmt.Errorf("%w: %w: %v", errNeedMore, errBusy, err)
	}
	return m, err
}

// lastTicketsSlack is how many shards holding stock the last-tickets path
// reads beyond the order's quantity: when Firestore finds fewer than that
// many, they are every shard holding stock, so sold_out is exact; when it
// finds that many, each holds a ticket, and the order is served.
const lastTicketsSlack = 16

// lastTicketsTries is how many times the last-tickets path looks again
// when the shards it found were taken before its transaction read them.
const lastTicketsTries = 8

// errTaken: the shards the last-tickets path chose were taken meanwhile.
var errTaken = errors.New("the shards found holding stock were taken meanwhile")

// grantFromStock runs the grant on the shards that still hold stock, as
// Firestore's index of the shards finds them, bounded by the order's
// quantity: the path near sell-out, and for an unknown ticket type or one
// whose shard count this instance does not know. The query runs outside
// the transaction (in it, the emulator would lock every shard it scans);
// the transaction then reads the few shards chosen, and when they were
// taken meanwhile the path looks again. When the query finds no stock, the
// transaction reads the ticket document instead, to tell sold out from
// unknown: sold_out is decided on a complete view of the stock.
func (s *Store) grantFromStock(ctx context.Context, in event.Envelope, decide app.GrantDecide) (event.Message, error) {
	id := in.Order.TicketID
	limit := int(min(max(in.Order.Quantity, 1), records.MaxShards)) + lastTicketsSlack
	for try := 0; ; {
		snaps, complete, err := s.findStock(ctx, id, limit)
		if err != nil {
			return event.Message{}, err
		}
		stock := map[int]int64{}
		var corrupt error
		for _, sn := range snaps {
			sh, err := readShard(sn)
			if err != nil || sh.Index < 0 || sh.Index >= records.MaxShards {
				corrupt = saga.CorruptRecord("stock shard "+sn.Ref.ID, fmt.Errorf("shard %d: %v", sh.Index, err))
				break
			}
			stock[sh.Index] = sh.Stock
		}
		held, released := s.leases.heldBy(id)
		offer, all, busy := spread(stock, in.Order.Quantity, complete, held)
		release, ok := func() {}, false
		if !busy {
			release, ok = s.leases.reserve(id, slices.Collect(maps.Keys(offer)))
		}
		if !ok {
			// The stock is on shards other grants here hold: wait for
			// one to finish rather than meet it on Firestore's locks.
			select {
			case <-released:
				continue
			case <-ctx.Done():
				return event.Message{}, ctx.Err()
			}
		}
		m, err := func() (event.Message, error) {
			defer release() // even when the step panics (the crash switch)
			return s.grantFrom(ctx, in, decide, offer, all, corrupt)
		}()
		if try++; !errors.Is(err, errTaken) || try > lastTicketsTries {
			if err == nil {
				// The shards found holding stock go to the head of the
				// queue, but those this grant took from, which it may
				// have emptied.
				found := make([]int, 0, len(stock))
				for k := range stock {
					if _, took := offer[k]; !took {
						found = append(found, k)
					}
				}
				s.leases.refound(id, found)
			}
			return m, err
		}
	}
}

// findStock returns up to limit shards of ticketID that hold stock, from a
// random point of their ids on: the shards' ids begin with a hash, so every
// grant near sell-out, on every instance, looks at a different part of what
// is left instead of all at its first shards. complete: they are every
// shard that holds stock, as one query saw them at one moment (two queries
// at two moments could each miss stock the other saw, and sold_out would
// be decided on a view that never was).
func (s *Store) findStock(ctx context.Context, ticketID string, limit int) (_ []*firestore.DocumentSnapshot, complete bool, _ error) {
	b := make([]byte, 6)
	for i := range b {
		b[i] = byte(rand.IntN(256))
	}
	from := hex.EncodeToString(b)
	q := s.shardsOf(ticketID).Where(records.FieldHasStock, "==", true).OrderBy(firestore.DocumentID, firestore.Asc)
	after, err := q.StartAfter(from).Limit(limit).Documents(ctx).GetAll()
	if err != nil {
		return nil, false, fmt.Errorf("find the stock of %s: %w", ticketID, err)
	}
	if len(after) == limit {
		return after, false, nil
	}
	whole, err := q.Limit(limit).Documents(ctx).GetAll()
	if err != nil {
		return nil, false, fmt.Errorf("find the stock of %s: %w", ticketID, err)
	}
	if len(whole) < limit {
		return whole, true, nil
	}
	// More than limit in all: those after the random point first.
	seen := map[string]bool{}
	out := make([]*firestore.DocumentSnapshot, 0, limit)
	for _, sn := range append(after, whole...) {
		if !seen[sn.Ref.ID] && len(out) < limit {
			seen[sn.Ref.ID] = true
			out = append(out, sn)
		}
	}
	return out, false, nil
}

// grantFrom runs the grant on shards found holding stock (complete: every
// shard that does); with none, on the ticket document.
func (s *Store) grantFrom(ctx context.Context, in event.Envelope, decide app.GrantDecide, offer map[int]int64, all bool, corrupt error) (event.Message, error) {
	id := in.Order.TicketID
	keys := slices.Sorted(maps.Keys(offer))
	reads := make([]*firestore.DocumentRef, len(keys))
	for i, k := range keys {
		reads[i] = s.shardRef(id, k)
	}
	if len(offer) == 0 || corrupt != nil {
		reads = []*firestore.DocumentRef{s.ticketRef(id)}
	}
	m, err := s.once.Run(ctx, app.StepGrant, in, reads,
		func(tx *firestore.Transaction, rec *records.Saga, docs []*firestore.DocumentSnapshot) (saga.Outcome, error) {
			cur, err := rec.Domain()
			if err != nil {
				return saga.Outcome{}, saga.CorruptRecord("ticket saga "+in.ID, err)
			}
			if corrupt != nil {
				_, out, err := decide(cur, nil, corrupt, 0)
				return out, err
			}
			if len(offer) == 0 {
				// No stock found: sold out, or no such ticket type.
				if !docs[0].Exists() {
					_, out, err := decide(cur, nil, nil, 0)
					return out, err
				}
				d, err := readTicket(docs[0])
				if err != nil {
					_, out, err := decide(cur, nil, err, 0)
					return out, err
				}
				s.counts.set(id, d.Shards)
				if !decidable(0, in.Order.Quantity, all) {
					return saga.Outcome{}, errTaken // a view cut short by the limit: look again
				}
				_, out, err := decide(cur, &ticket.Ticket{Price: d.Price}, nil, 0)
				return out, err
			}
			// The price is the shards' as this transaction reads them: a
			// re-PUT rewrites every shard, price included, at once.
			now, price := map[int]int64{}, int64(0)
			for i, k := range keys {
				sh, err := readShard(docs[i])
				if err != nil {
					_, out, err := decide(cur, nil, err, 0)
					return out, err
				}
				now[k] = sh.Stock
				if docs[i].Exists() {
					price = sh.Price
				}
			}
			if price == 0 {
				return saga.Outcome{}, errTaken // every shard chosen is gone (a re-PUT): look again
			}
			available, ok := records.SumStock(slices.Collect(maps.Values(now)))
			if !ok {
				_, out, err := decide(cur, nil, saga.CorruptRecord("stock of ticket "+id, fmt.Errorf("shards %v", now)), 0)
				return out, err
			}
			if !decidable(available, in.Order.Quantity, all) {
				return saga.Outcome{}, errTaken // taken meanwhile, and not every shard holding stock: look again
			}
			res, out, err := decide(cur, &ticket.Ticket{Price: price}, nil, available)
			if err != nil {
				return saga.Outcome{}, err
			}
			_, out, err = s.granted(tx, rec, id, now, res, out)
			return out, err
		})
	if status.Code(err) == codes.Aborted {
		return event.Message{}, fmt.Errorf("%w: %v", errTaken, err)
	}
	return m, err
}

// spread offers the grant a random part of the shards found holding stock
// that covers quantity, among those no grant of this instance holds, so
// that the grants near sell-out take from different shards; all of them
// when none does (complete: they are every shard holding stock). busy:
// they do not, and some held here do hold stock; wait for those.
func spread(stock map[int]int64, quantity int64, complete bool, held func(int) bool) (offer map[int]int64, all, busy bool) {
	keys := make([]int, 0, len(stock))
	for k := range stock {
		if held(k) {
			busy = true
		} else {
			keys = append(keys, k)
		}
	}
	rand.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
	offer = map[int]int64{}
	var sum int64
	for _, k := range keys {
		offer[k] = stock[k]
		if sum += stock[k]; sum >= quantity {
			return offer, false, false
		}
	}
	return offer, complete && !busy, busy
}

// decidable says whether a grant may be decided on the stock found
// (app.GrantDecide's contract): it holds the order's quantity, or it is
// all the stock there is (complete), so that fewer is sold_out.
func decidable(available, quantity int64, complete bool) bool {
	return complete || available >= quantity
}

// granted writes a grant decision made on stock (shard → the stock it
// held): the tickets a grant takes from those shards (records.Take), and
// the saga with the shards they came from. It returns what it took.
func (s *Store) granted(tx *firestore.Transaction, rec *records.Saga, id string, stock map[int]int64, res ticket.GrantResult, out saga.Outcome) (map[int]int64, saga.Outcome, error) {
	take, err := records.Take(res.Saga, stock)
	if err != nil {
		return nil, saga.Outcome{}, err
	}
	for k, n := range take {
		if err := tx.Update(s.shardRef(id, k), []firestore.Update{{Path: records.FieldStock, Value: stock[k] - n},
			{Path: records.FieldHasStock, Value: stock[k]-n > 0}}); err != nil {
			return nil, saga.Outcome{}, err
		}
	}
	rec.SetDomain(res.Saga, take)
	return take, out, nil
}

// Cancel runs the cancel step. The stock goes back to the shards it came
// from, by increments; a shard that a re-PUT of the ticket removed since
// gives its part to the shard of the same number modulo the shards there
// are now, so the stock stays exact.
func (s *Store) Cancel(ctx context.Context, in event.Envelope, decide app.CancelDecide) (event.Message, error) {
	ticketRef := s.ticketRef(in.Order.TicketID)
	return s.steps.Run(ctx, app.StepCancel, in, []*firestore.DocumentRef{ticketRef},
		func(tx *firestore.Transaction, rec *records.Saga, docs []*firestore.DocumentSnapshot) (saga.Outcome, error) {
			cur, err := rec.Domain()
			if err != nil {
				return saga.Outcome{}, saga.CorruptRecord("ticket saga "+in.ID, err)
			}
			res, out, err := decide(cur)
			if err != nil {
				return saga.Outcome{}, err
			}
			if res.Give > 0 {
				t, err := readTicket(docs[0])
				if err != nil {
					return saga.Outcome{}, err
				}
				give, err := rec.GiveBack(res.Give, t.Shards)
				if err != nil {
					return saga.Outcome{}, saga.CorruptRecord("ticket saga "+in.ID, err)
				}
				for k, n := range give {
					// Merged whole, so that a shard a re-PUT deleted meanwhile
					// comes back complete, counted in the type's stock.
					if err := tx.Set(s.shardRef(res.Saga.TicketID, k), map[string]any{records.FieldTicketID: res.Saga.TicketID, records.FieldShard: k,
						records.FieldPrice: t.Price, records.FieldStock: firestore.Increment(n), records.FieldHasStock: true}, firestore.MergeAll); err != nil {
						return saga.Outcome{}, err
					}
				}
			}
			rec.SetDomain(res.Saga, nil)
			return out, nil
		})
}

func readTicket(snap *firestore.DocumentSnapshot) (records.Ticket, error) {
	var d records.Ticket
	if err := snap.DataTo(&d); err != nil || d.Shards < 1 || d.Shards > records.MaxShards {
		return d, saga.CorruptRecord("ticket "+snap.Ref.ID, fmt.Errorf("shards %d: %v", d.Shards, err))
	}
	return d, nil
}

func readShard(snap *firestore.DocumentSnapshot) (records.Shard, error) {
	var d records.Shard
	if !snap.Exists() {
		return d, nil
	}
	if err := snap.DataTo(&d); err != nil || d.Stock < 0 {
		return d, saga.CorruptRecord("stock shard "+snap.Ref.ID, fmt.Errorf("stock %d: %v", d.Stock, err))
	}
	return d, nil
}
