// Package firestore is ticket-service's storage adapter: ticket types with
// their stock split over shards, and one saga document per order whose
// steps run through the typed outbox runner. A user's tickets are the
// granted saga documents, so a grant writes only the stock and the saga.
package firestore

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"cloud.google.com/go/firestore"
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
	fs     *firestore.Client
	steps  outbox.Runner[records.Saga, *records.Saga]
	shards int
	leases *leases
	counts *shardCounts // each ticket type's shard count, as last read here
	// countFlight reads a ticket type's shard count once for the grants
	// that need it at the same moment.
	countFlight singleflight.Group
	budget      *writeBudget // nil unless the bench simulates a write limit (budget.go)
}

var _ app.Store = (*Store)(nil)

// New returns a Store whose steps run through steps (on records.Sagas),
// splitting the stock of the ticket types it creates over shards
// documents. With leased false, concurrent grants pick shards at random and
// may wait on each other's locks (the naive design, kept for comparison).
func New(fs *firestore.Client, steps *outbox.Steps, shards int, leased bool) *Store {
	n := max(shards, 1)
	return &Store{fs: fs, steps: outbox.Runner[records.Saga, *records.Saga]{Steps: steps}, shards: n,
		leases: newLeases(records.MaxShards, leased), counts: newShardCounts()}
}

func (s *Store) ticketRef(id string) *firestore.DocumentRef {
	return s.fs.Collection(records.Tickets).Doc(id)
}

func (s *Store) shardRef(ticketID string, k int) *firestore.DocumentRef {
	return s.ticketRef(ticketID).Collection(records.Shards).Doc(strconv.Itoa(k))
}

func (s *Store) shardRefs(ticketID string, n int) []*firestore.DocumentRef {
	refs := make([]*firestore.DocumentRef, n)
	for k := range refs {
		refs[k] = s.shardRef(ticketID, k)
	}
	return refs
}

// PutTicket creates or replaces a ticket type, its stock split over
// shards documents (0: the default for its stock, up to the store's); the
// shards it had beyond those are deleted.
func (s *Store) PutTicket(ctx context.Context, id string, price, stock int64, shards int) error {
	if shards == 0 {
		shards = ticket.DefaultShards(stock, s.shards)
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
		for k, st := range ticket.Split(stock, shards) {
			if err := tx.Set(s.shardRef(id, k), records.Shard{Stock: st, Price: price}); err != nil {
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

// stockOf returns the ticket type read in snap with its stock summed over
// its shards.
func (s *Store) stockOf(ctx context.Context, snap *firestore.DocumentSnapshot) (app.Stock, error) {
	id := snap.Ref.ID
	d, err := readTicket(snap)
	if err != nil {
		return app.Stock{}, err
	}
	snaps, err := s.fs.GetAll(ctx, s.shardRefs(id, d.Shards))
	if err != nil {
		return app.Stock{}, fmt.Errorf("read stock of %s: %w", id, err)
	}
	stock := make([]int64, 0, len(snaps))
	for _, sh := range snaps {
		d, err := readShard(sh)
		if err != nil {
			return app.Stock{}, err
		}
		stock = append(stock, d.Stock)
	}
	sum, ok := ticket.SumStock(stock)
	if !ok {
		return app.Stock{}, saga.CorruptRecord("stock of ticket "+id, fmt.Errorf("shards %v do not sum", stock))
	}
	return app.Stock{Price: d.Price, Stock: sum, Shards: d.Shards}, nil
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

// errNeedAll aborts a grant whose one shard cannot serve it, so that it
// runs again holding every shard.
var errNeedAll = errors.New("one shard cannot serve the order")

// Grant runs the grant step. It reads the saga and one stock shard leased
// to it; only when that shard cannot serve the order (near sell-out, or an
// unknown ticket) does it run again holding every shard, reading the ticket
// document and all of them.
func (s *Store) Grant(ctx context.Context, in event.Envelope, decide app.GrantDecide) (event.Message, error) {
	id := in.Order.TicketID
	if n := s.shardCount(ctx, id); n > 0 {
		m, err := s.grantFromOneShard(ctx, in, decide, n)
		if !errors.Is(err, errNeedAll) {
			return m, err
		}
	}
	releaseAll, err := s.leases.all(ctx, id)
	if err != nil {
		return event.Message{}, err
	}
	defer releaseAll()
	return s.steps.Run(ctx, app.StepGrant, in, nil,
		func(tx *firestore.Transaction, rec *records.Saga, _ []*firestore.DocumentSnapshot) (saga.Outcome, error) {
			cur, err := rec.Domain()
			if err != nil {
				return saga.Outcome{}, saga.CorruptRecord("ticket saga "+in.ID, err)
			}
			t, shards, typeErr := s.readAll(tx, id)
			if typeErr != nil && saga.KindOf(typeErr) != saga.Corrupt {
				return saga.Outcome{}, typeErr
			}
			res, out, err := decide(cur, t, typeErr, shards, true)
			if err != nil {
				return saga.Outcome{}, err
			}
			return s.granted(tx, rec, id, shards, res, out)
		})
}

// grantFromOneShard runs the grant on one leased shard of the ticket's n;
// errNeedAll when that shard cannot serve it.
func (s *Store) grantFromOneShard(ctx context.Context, in event.Envelope, decide app.GrantDecide, n int) (event.Message, error) {
	id := in.Order.TicketID
	k, release, err := s.leases.one(ctx, id, n)
	if err != nil {
		return event.Message{}, err
	}
	defer release() // even when the step panics (the crash switch)
	return s.steps.Run(ctx, app.StepGrant, in, []*firestore.DocumentRef{s.shardRef(id, k)},
		func(tx *firestore.Transaction, rec *records.Saga, docs []*firestore.DocumentSnapshot) (saga.Outcome, error) {
			cur, err := rec.Domain()
			if err != nil {
				return saga.Outcome{}, saga.CorruptRecord("ticket saga "+in.ID, err)
			}
			if !docs[0].Exists() {
				return saga.Outcome{}, errNeedAll
			}
			sh, err := readShard(docs[0])
			if err != nil {
				return saga.Outcome{}, errNeedAll // decided, and reported, on every shard
			}
			shards := map[int]int64{k: sh.Stock}
			res, out, err := decide(cur, &ticket.Ticket{Price: sh.Price}, nil, shards, false)
			if err != nil {
				return saga.Outcome{}, err
			}
			if res.NeedAll {
				return saga.Outcome{}, errNeedAll
			}
			return s.granted(tx, rec, id, shards, res, out)
		})
}

// granted writes a grant decision: the shards it takes from, and the saga.
func (s *Store) granted(tx *firestore.Transaction, rec *records.Saga, id string, shards map[int]int64, res ticket.GrantResult, out saga.Outcome) (saga.Outcome, error) {
	for k, n := range res.Take {
		if err := s.budget.take(s.shardRef(id, k).Path); err != nil {
			return saga.Outcome{}, err
		}
		if err := tx.Update(s.shardRef(id, k), []firestore.Update{{Path: records.FieldStock, Value: shards[k] - n}}); err != nil {
			return saga.Outcome{}, err
		}
	}
	rec.SetDomain(res.Saga)
	return out, nil
}

// readAll reads a ticket type and every shard of its stock in tx; a nil
// ticket means it does not exist, a saga.Corrupt error that it cannot be
// read.
func (s *Store) readAll(tx *firestore.Transaction, id string) (*ticket.Ticket, map[int]int64, error) {
	snap, err := outbox.GetTx(tx, s.ticketRef(id))
	if err != nil || !snap.Exists() {
		return nil, nil, err
	}
	d, err := readTicket(snap)
	if err != nil {
		return nil, nil, err
	}
	s.counts.set(id, d.Shards)
	snaps, err := tx.GetAll(s.shardRefs(id, d.Shards))
	if err != nil {
		return nil, nil, fmt.Errorf("read stock of %s: %w", id, err)
	}
	shards := map[int]int64{}
	for k, sh := range snaps {
		sd, err := readShard(sh)
		if err != nil {
			return nil, nil, err
		}
		if sd.Stock < 0 {
			return nil, nil, saga.CorruptRecord("stock shard "+sh.Ref.Path, fmt.Errorf("negative stock %d", sd.Stock))
		}
		shards[k] = sd.Stock
	}
	return &ticket.Ticket{Price: d.Price}, shards, nil
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
			if len(res.Give) > 0 {
				t, err := readTicket(docs[0])
				if err != nil {
					return saga.Outcome{}, err
				}
				for k, n := range ticket.GiveBack(res.Give, t.Shards) {
					if err := s.budget.take(s.shardRef(res.Saga.TicketID, k).Path); err != nil {
						return saga.Outcome{}, err
					}
					if err := tx.Set(s.shardRef(res.Saga.TicketID, k), map[string]any{records.FieldStock: firestore.Increment(n)}, firestore.MergeAll); err != nil {
						return saga.Outcome{}, err
					}
				}
			}
			rec.SetDomain(res.Saga)
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
	if err := snap.DataTo(&d); err != nil {
		return d, saga.CorruptRecord("stock shard "+snap.Ref.Path, err)
	}
	return d, nil
}
