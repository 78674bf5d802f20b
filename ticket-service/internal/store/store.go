// Package store is ticket-service's Firestore adapter: ticket types, and one
// saga document per order whose steps run through the shared outbox. A
// user's tickets are the granted saga documents, so a grant writes only the
// stock and the saga.
package store

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"

	"cloud.google.com/go/firestore"
	"google.golang.org/api/iterator"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ticketsaga/saga/shared/event"
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

type ticketDoc struct {
	Price  int64 `firestore:"price"`
	Shards int   `firestore:"shards"`
}

type shardDoc struct {
	Stock int64 `firestore:"stock"`
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
}

// New returns a Store running its steps through steps, splitting the stock
// of the ticket types it creates over shards documents.
func New(fs *firestore.Client, steps *outbox.Steps, shards int) *Store {
	return &Store{fs: fs, steps: steps, shards: max(shards, 1)}
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
				return fmt.Errorf("decode ticket %s: %w", id, err)
			}
			old = d.Shards
		}
		if err := tx.Set(ref, ticketDoc{Price: price, Shards: s.shards}); err != nil {
			return err
		}
		for k, st := range ticket.Split(stock, s.shards) {
			if err := tx.Set(s.shardRef(id, k), shardDoc{Stock: st}); err != nil {
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
	if err := snap.DataTo(&d); err != nil {
		return Stock{}, fmt.Errorf("decode ticket %s: %w", id, err)
	}
	shards, err := s.fs.GetAll(ctx, s.shardRefs(id, d.Shards))
	if err != nil {
		return Stock{}, fmt.Errorf("read stock of %s: %w", id, err)
	}
	out := Stock{Price: d.Price}
	for _, sh := range shards {
		st, err := readShard(sh)
		if err != nil {
			return Stock{}, err
		}
		out.Stock += st
	}
	return out, nil
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

// Grant gives the order its tickets, once per order, and returns the
// resulting event (granted-ticket or failed-ticket). It reads one random
// stock shard along with the saga and the ticket, and all shards only when
// that one cannot serve the order.
func (s *Store) Grant(ctx context.Context, in event.Envelope) (event.Message, error) {
	id := in.Order.TicketID
	tRef := s.fs.Collection(Tickets).Doc(id)
	guess := rand.IntN(s.shards)
	req := ticket.Request{UserID: in.Order.UserID, TicketID: id, Quantity: in.Order.Quantity, Price: in.Order.Price}
	return s.steps.Run(ctx, StepGrant, in, []*firestore.DocumentRef{tRef, s.shardRef(id, guess)},
		func(tx *firestore.Transaction, sagaSnap *firestore.DocumentSnapshot, docs []*firestore.DocumentSnapshot) (outbox.Decision, error) {
			saga, err := readSaga(sagaSnap)
			if err != nil {
				return outbox.Decision{}, err
			}
			t, err := readTicket(docs[0])
			if err != nil {
				return outbox.Decision{}, err
			}
			shards := map[int]int64{}
			if t != nil && docs[1].Exists() && guess < t.Shards {
				if shards[guess], err = readShard(docs[1]); err != nil {
					return outbox.Decision{}, err
				}
			}
			res := ticket.Grant(saga, t, shards, false, req)
			if res.NeedAll {
				all, err := tx.GetAll(s.shardRefs(id, t.Shards))
				if err != nil {
					return outbox.Decision{}, fmt.Errorf("read stock of %s: %w", id, err)
				}
				for k, sh := range all {
					if shards[k], err = readShard(sh); err != nil {
						return outbox.Decision{}, err
					}
				}
				res = ticket.Grant(saga, t, shards, true, req)
			}
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
		})
}

// Cancel takes back the order's grant, once per order, and returns the
// canceled-ticket event. The stock goes back to the shards it came from,
// by increments, so a cancel reads nothing but its saga.
func (s *Store) Cancel(ctx context.Context, in event.Envelope) (event.Message, error) {
	return s.steps.Run(ctx, StepCancel, in, nil,
		func(tx *firestore.Transaction, sagaSnap *firestore.DocumentSnapshot, _ []*firestore.DocumentSnapshot) (outbox.Decision, error) {
			saga, err := readSaga(sagaSnap)
			if err != nil {
				return outbox.Decision{}, err
			}
			if saga.UserID == "" {
				saga.UserID, saga.TicketID = in.Order.UserID, in.Order.TicketID
			}
			res := ticket.Cancel(saga)
			for k, n := range res.Give {
				if err := tx.Set(s.shardRef(saga.TicketID, k), map[string]any{"stock": firestore.Increment(n)}, firestore.MergeAll); err != nil {
					return outbox.Decision{}, err
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
		return ticket.Saga{}, fmt.Errorf("decode ticket saga %s: %w", snap.Ref.ID, err)
	}
	taken := map[int]int64{}
	for k, n := range d.Taken {
		i, err := strconv.Atoi(k)
		if err != nil {
			return ticket.Saga{}, fmt.Errorf("ticket saga %s: bad shard %q", snap.Ref.ID, k)
		}
		taken[i] = n
	}
	return ticket.Saga{State: ticket.State(d.State), UserID: d.UserID, TicketID: d.TicketID, Quantity: d.Quantity, Taken: taken}, nil
}

func readTicket(snap *firestore.DocumentSnapshot) (*ticket.Ticket, error) {
	if !snap.Exists() {
		return nil, nil
	}
	var d ticketDoc
	if err := snap.DataTo(&d); err != nil {
		return nil, fmt.Errorf("decode ticket %s: %w", snap.Ref.ID, err)
	}
	return &ticket.Ticket{Price: d.Price, Shards: max(d.Shards, 1)}, nil
}

func readShard(snap *firestore.DocumentSnapshot) (int64, error) {
	if !snap.Exists() {
		return 0, nil
	}
	var d shardDoc
	if err := snap.DataTo(&d); err != nil {
		return 0, fmt.Errorf("decode stock shard %s: %w", snap.Ref.Path, err)
	}
	return d.Stock, nil
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
