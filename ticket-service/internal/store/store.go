// Package store is ticket-service's Firestore adapter: ticket types, and one
// saga document per order whose steps run through the shared outbox. A
// user's tickets are the granted saga documents, so a grant writes only the
// stock and the saga.
package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strconv"

	"cloud.google.com/go/firestore"
	"google.golang.org/api/iterator"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ticketsaga/saga/shared/event"
	"github.com/ticketsaga/saga/shared/fault"
	"github.com/ticketsaga/saga/shared/outbox"
	"github.com/ticketsaga/saga/ticket-service/internal/ticket"
)

// Collections.
const (
	Tickets = "tickets"
	Shards  = "stock_shards" // under each ticket
	Sagas   = "ticket_sagas"
)

// Step names in the saga document.
const (
	StepGrant  = "grant"
	StepCancel = "cancel"
)

// ErrNotFound is returned for an unknown ticket type.
var ErrNotFound = errors.New("not found")

// MaxShards is the most stock shards a ticket type can have (STOCK_SHARDS
// is at most this).
const MaxShards = 100

type ticketDoc struct {
	Price  int64 `firestore:"price"`
	Shards int   `firestore:"shards"`
}

// shardDoc is one part of a ticket type's stock. It repeats the price, so
// a grant reads only its shard: reading the ticket document in every grant
// would make that document the hot spot again.
type shardDoc struct {
	Stock int64 `firestore:"stock"`
	Price int64 `firestore:"price"`
}

type sagaDoc struct {
	State    string           `firestore:"state"`
	UserID   string           `firestore:"user_id"`
	TicketID string           `firestore:"ticket_id"`
	Quantity int64            `firestore:"quantity"`
	Taken    map[string]int64 `firestore:"taken"`
}

// Store reads and writes ticket-service's documents.
type Store struct {
	fs     *firestore.Client
	steps  *outbox.Steps
	shards int
	leases *leases
}

// New returns a Store running its steps through steps, splitting the stock
// of the ticket types it creates over shards documents.
// With leased false, concurrent grants pick shards at random and may wait
// on each other's locks (the naive design, kept for comparison).
func New(fs *firestore.Client, steps *outbox.Steps, shards int, leased bool) *Store {
	n := max(shards, 1)
	return &Store{fs: fs, steps: steps, shards: n, leases: newLeases(n, leased)}
}

func (s *Store) shardRef(ticketID string, k int) *firestore.DocumentRef {
	return s.fs.Collection(Tickets).Doc(ticketID).Collection(Shards).Doc(strconv.Itoa(k))
}

func (s *Store) shardRefs(ticketID string, n int) []*firestore.DocumentRef {
	refs := make([]*firestore.DocumentRef, n)
	for k := range refs {
		refs[k] = s.shardRef(ticketID, k)
	}
	return refs
}

// PutTicket creates or replaces a ticket type, its stock split over the
// store's shards.
func (s *Store) PutTicket(ctx context.Context, id string, price, stock int64) error {
	ref := s.fs.Collection(Tickets).Doc(id)
	err := s.fs.RunTransaction(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
		snap, err := outbox.GetTx(tx, ref)
		if err != nil {
			return err
		}
		old := 0
		if snap.Exists() {
			var d ticketDoc
			if err := snap.DataTo(&d); err != nil {
				// Replacing a corrupt ticket repairs it: delete every
				// shard it may have had.
				d.Shards = MaxShards
			}
			old = min(d.Shards, MaxShards)
		}
		if err := tx.Set(ref, ticketDoc{Price: price, Shards: s.shards}); err != nil {
			return err
		}
		for k, st := range ticket.Split(stock, s.shards) {
			if err := tx.Set(s.shardRef(id, k), shardDoc{Stock: st, Price: price}); err != nil {
				return err
			}
		}
		for k := s.shards; k < old; k++ {
			if err := tx.Delete(s.shardRef(id, k)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("put ticket %s: %w", id, err)
	}
	return nil
}

// Stock is a ticket type as the API shows it.
type Stock struct {
	Price, Stock int64
}

// Ticket returns a ticket type with its stock summed over its shards, or
// ErrNotFound.
func (s *Store) Ticket(ctx context.Context, id string) (Stock, error) {
	snap, err := s.fs.Collection(Tickets).Doc(id).Get(ctx)
	if status.Code(err) == codes.NotFound {
		return Stock{}, ErrNotFound
	}
	if err != nil {
		return Stock{}, fmt.Errorf("read ticket %s: %w", id, err)
	}
	var d ticketDoc
	if err := snap.DataTo(&d); err != nil || d.Shards < 1 || d.Shards > MaxShards {
		return Stock{}, fault.Corrupt("ticket "+id, fmt.Errorf("shards %d: %v", d.Shards, err))
	}
	shards, err := s.fs.GetAll(ctx, s.shardRefs(id, d.Shards))
	if err != nil {
		return Stock{}, fmt.Errorf("read stock of %s: %w", id, err)
	}
	stock := make([]int64, 0, len(shards))
	for _, sh := range shards {
		d, err := readShard(sh)
		if err != nil {
			return Stock{}, err
		}
		stock = append(stock, d.Stock)
	}
	sum, ok := ticket.SumStock(stock)
	if !ok {
		return Stock{}, fault.Corrupt("stock of ticket "+id, fmt.Errorf("shards %v do not sum", stock))
	}
	return Stock{Price: d.Price, Stock: sum}, nil
}

// Holdings returns the tickets userID owns.
func (s *Store) Holdings(ctx context.Context, userID string) ([]ticket.Holding, error) {
	it := s.fs.Collection(Sagas).Where("user_id", "==", userID).Where("state", "==", string(ticket.StateGranted)).Documents(ctx)
	defer it.Stop()
	var sagas []ticket.Saga
	for {
		snap, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("list tickets of %s: %w", userID, err)
		}
		saga, err := readSaga(snap)
		if err != nil {
			return nil, err
		}
		sagas = append(sagas, saga)
	}
	return ticket.Holdings(sagas), nil
}

// errNeedAll aborts a grant whose one shard cannot serve it, so that it
// runs again holding every shard.
var errNeedAll = errors.New("one shard cannot serve the order")

// Grant gives the order its tickets, once per order, and returns the
// resulting event (granted-ticket or failed-ticket). It reads the saga and
// one stock shard leased to it; only when that shard cannot serve the
// order (near sell-out, or an unknown ticket) does it run again holding
// every shard, reading the ticket document and all of them.
func (s *Store) Grant(ctx context.Context, in event.Envelope) (event.Message, error) {
	id := in.Order.TicketID
	req := ticket.Request{UserID: in.Order.UserID, TicketID: id, Quantity: in.Order.Quantity, Price: in.Order.Price}
	m, err := s.grantFromOneShard(ctx, in, req)
	if !errors.Is(err, errNeedAll) {
		return m, err
	}
	releaseAll, err := s.leases.all(ctx, id)
	if err != nil {
		return event.Message{}, err
	}
	defer releaseAll()
	return s.steps.Run(ctx, StepGrant, in, nil,
		func(tx *firestore.Transaction, sagaSnap *firestore.DocumentSnapshot, _ []*firestore.DocumentSnapshot) (outbox.Decision, error) {
			saga, err := readSaga(sagaSnap)
			if err != nil {
				return outbox.Decision{}, err
			}
			t, shards, err := s.readAll(tx, id)
			if errors.Is(err, fault.ErrCorrupt) {
				// A ticket type whose records cannot be read sells
				// nothing: the order fails as for an unknown ticket, and
				// its points are refunded.
				s.steps.Log.ErrorContext(ctx, "grant: the ticket cannot be read; failing the order as unknown_ticket", "order_id", in.ID, "error", err.Error())
				t, shards, err = nil, nil, nil
			}
			if err != nil {
				return outbox.Decision{}, err
			}
			return s.granted(tx, id, shards, ticket.Grant(saga, t, shards, true, req))
		})
}

// grantFromOneShard runs the grant on one leased shard; errNeedAll when
// that shard cannot serve it.
func (s *Store) grantFromOneShard(ctx context.Context, in event.Envelope, req ticket.Request) (event.Message, error) {
	id := req.TicketID
	k, release, err := s.leases.one(ctx, id)
	if err != nil {
		return event.Message{}, err
	}
	defer release() // even when the step panics (the crash switch)
	return s.steps.Run(ctx, StepGrant, in, []*firestore.DocumentRef{s.shardRef(id, k)},
		func(tx *firestore.Transaction, sagaSnap *firestore.DocumentSnapshot, docs []*firestore.DocumentSnapshot) (outbox.Decision, error) {
			saga, err := readSaga(sagaSnap)
			if err != nil || !docs[0].Exists() {
				return outbox.Decision{}, cmp.Or(err, errNeedAll)
			}
			sh, err := readShard(docs[0])
			if err != nil {
				return outbox.Decision{}, errNeedAll // decided, and reported, on every shard
			}
			shards := map[int]int64{k: sh.Stock}
			res := ticket.Grant(saga, &ticket.Ticket{Price: sh.Price}, shards, false, req)
			if res.NeedAll {
				return outbox.Decision{}, errNeedAll
			}
			return s.granted(tx, id, shards, res)
		})
}

// granted writes a grant decision: the shards it takes from, and the event.
func (s *Store) granted(tx *firestore.Transaction, id string, shards map[int]int64, res ticket.GrantResult) (outbox.Decision, error) {
	for k, n := range res.Take {
		if err := tx.Update(s.shardRef(id, k), []firestore.Update{{Path: "stock", Value: shards[k] - n}}); err != nil {
			return outbox.Decision{}, err
		}
	}
	d := outbox.Decision{Event: event.GrantedTicket, Reason: res.Reason, Fields: sagaFields(res.Saga)}
	if res.Reason != "" {
		d.Event = event.FailedTicket
	}
	return d, nil
}

// readAll reads a ticket type and every shard of its stock in tx; a nil
// ticket means it does not exist.
func (s *Store) readAll(tx *firestore.Transaction, id string) (*ticket.Ticket, map[int]int64, error) {
	snap, err := outbox.GetTx(tx, s.fs.Collection(Tickets).Doc(id))
	if err != nil || !snap.Exists() {
		return nil, nil, err
	}
	var d ticketDoc
	if err := snap.DataTo(&d); err != nil || d.Shards < 1 || d.Shards > MaxShards {
		return nil, nil, fault.Corrupt("ticket "+id, fmt.Errorf("shards %d: %v", d.Shards, err))
	}
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
			return nil, nil, fault.Corrupt("stock shard "+sh.Ref.Path, fmt.Errorf("negative stock %d", sd.Stock))
		}
		shards[k] = sd.Stock
	}
	return &ticket.Ticket{Price: d.Price}, shards, nil
}

// Cancel takes back the order's grant, once per order, and returns the
// canceled-ticket event. The stock goes back to the shards it came from,
// by increments; a shard that a re-PUT of the ticket removed since gives
// its part to the shard of the same number modulo the shards there are
// now, so the stock stays exact.
func (s *Store) Cancel(ctx context.Context, in event.Envelope) (event.Message, error) {
	ticketRef := s.fs.Collection(Tickets).Doc(in.Order.TicketID)
	return s.steps.Run(ctx, StepCancel, in, []*firestore.DocumentRef{ticketRef},
		func(tx *firestore.Transaction, sagaSnap *firestore.DocumentSnapshot, docs []*firestore.DocumentSnapshot) (outbox.Decision, error) {
			saga, err := readSaga(sagaSnap)
			if err != nil {
				return outbox.Decision{}, err
			}
			if saga.UserID == "" {
				saga.UserID, saga.TicketID = in.Order.UserID, in.Order.TicketID
			}
			// The cancel gives back what the grant took, of the ticket it
			// took it from: an envelope naming another user or ticket is
			// not this order's.
			if saga.UserID != in.Order.UserID || saga.TicketID != in.Order.TicketID {
				return outbox.Decision{}, fault.Permanent(fmt.Errorf("cancel for %s/%s of an order granted to %s/%s",
					in.Order.UserID, in.Order.TicketID, saga.UserID, saga.TicketID))
			}
			res := ticket.Cancel(saga)
			if len(res.Give) > 0 {
				var t ticketDoc
				if err := docs[0].DataTo(&t); err != nil || t.Shards < 1 || t.Shards > MaxShards {
					return outbox.Decision{}, fault.Corrupt("ticket "+saga.TicketID, fmt.Errorf("shards %d: %v", t.Shards, err))
				}
				for k, n := range ticket.GiveBack(res.Give, t.Shards) {
					if err := tx.Set(s.shardRef(saga.TicketID, k), map[string]any{"stock": firestore.Increment(n)}, firestore.MergeAll); err != nil {
						return outbox.Decision{}, err
					}
				}
			}
			return outbox.Decision{Event: event.CanceledTicket, Reason: ticket.ReasonCompensated, Fields: sagaFields(res.Saga)}, nil
		})
}

func readSaga(snap *firestore.DocumentSnapshot) (ticket.Saga, error) {
	if !snap.Exists() {
		return ticket.Saga{}, nil
	}
	var d sagaDoc
	if err := snap.DataTo(&d); err != nil {
		return ticket.Saga{}, fault.Corrupt("ticket saga "+snap.Ref.ID, err)
	}
	taken := map[int]int64{}
	for k, n := range d.Taken {
		i, err := strconv.Atoi(k)
		if err != nil || i < 0 || i >= MaxShards || n < 0 {
			return ticket.Saga{}, fault.Corrupt("ticket saga "+snap.Ref.ID, fmt.Errorf("bad shard %q: %d", k, n))
		}
		taken[i] = n
	}
	return ticket.Saga{State: ticket.State(d.State), UserID: d.UserID, TicketID: d.TicketID, Quantity: d.Quantity, Taken: taken}, nil
}

func readShard(snap *firestore.DocumentSnapshot) (shardDoc, error) {
	var d shardDoc
	if !snap.Exists() {
		return d, nil
	}
	if err := snap.DataTo(&d); err != nil {
		return d, fault.Corrupt("stock shard "+snap.Ref.Path, err)
	}
	return d, nil
}

func sagaFields(s ticket.Saga) map[string]any {
	taken := map[string]any{}
	for k, n := range s.Taken {
		taken[strconv.Itoa(k)] = n
	}
	// The saga document is merged: an empty map would keep old keys, so
	// an ungranted saga deletes the field.
	var t any = taken
	if len(taken) == 0 {
		t = firestore.Delete
	}
	return map[string]any{"state": string(s.State), "user_id": s.UserID, "ticket_id": s.TicketID, "quantity": s.Quantity, "taken": t}
}
