// Package store is ticket-service's Firestore adapter: ticket types, and one
// saga document per order whose steps run through the shared outbox. A
// user's tickets are the granted saga documents, so a grant writes only the
// stock and the saga.
package store

import (
	"context"
	"errors"
	"fmt"

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
	Price int64 `firestore:"price"`
	Stock int64 `firestore:"stock"`
}

type sagaDoc struct {
	State    string `firestore:"state"`
	UserID   string `firestore:"user_id"`
	TicketID string `firestore:"ticket_id"`
	Quantity int64  `firestore:"quantity"`
}

// Store reads and writes ticket-service's documents.
type Store struct {
	fs    *firestore.Client
	steps *outbox.Steps
}

// New returns a Store running its steps through steps.
func New(fs *firestore.Client, steps *outbox.Steps) *Store {
	return &Store{fs: fs, steps: steps}
}

// PutTicket creates or replaces a ticket type.
func (s *Store) PutTicket(ctx context.Context, id string, t ticket.Ticket) error {
	if _, err := s.fs.Collection(Tickets).Doc(id).Set(ctx, ticketDoc{Price: t.Price, Stock: t.Stock}); err != nil {
		return fmt.Errorf("put ticket %s: %w", id, err)
	}
	return nil
}

// Ticket returns a ticket type, or ErrNotFound.
func (s *Store) Ticket(ctx context.Context, id string) (ticket.Ticket, error) {
	snap, err := s.fs.Collection(Tickets).Doc(id).Get(ctx)
	if status.Code(err) == codes.NotFound {
		return ticket.Ticket{}, ErrNotFound
	}
	if err != nil {
		return ticket.Ticket{}, fmt.Errorf("read ticket %s: %w", id, err)
	}
	var d ticketDoc
	if err := snap.DataTo(&d); err != nil {
		return ticket.Ticket{}, fmt.Errorf("decode ticket %s: %w", id, err)
	}
	return ticket.Ticket{Price: d.Price, Stock: d.Stock}, nil
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
// resulting event (granted-ticket or failed-ticket).
func (s *Store) Grant(ctx context.Context, in event.Envelope) (event.Message, error) {
	return s.steps.Run(ctx, StepGrant, in, func(ctx context.Context, tx *firestore.Transaction, sagaSnap *firestore.DocumentSnapshot) (outbox.Decision, error) {
		saga, err := readSaga(sagaSnap)
		if err != nil {
			return outbox.Decision{}, err
		}
		ref := s.fs.Collection(Tickets).Doc(in.Order.TicketID)
		t, err := readTicket(tx, ref)
		if err != nil {
			return outbox.Decision{}, err
		}
		res := ticket.Grant(saga, t, ticket.Request{UserID: in.Order.UserID, TicketID: in.Order.TicketID, Quantity: in.Order.Quantity, Price: in.Order.Price})
		if res.Ticket != nil {
			if err := tx.Update(ref, []firestore.Update{{Path: "stock", Value: res.Ticket.Stock}}); err != nil {
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
// canceled-ticket event.
func (s *Store) Cancel(ctx context.Context, in event.Envelope) (event.Message, error) {
	return s.steps.Run(ctx, StepCancel, in, func(ctx context.Context, tx *firestore.Transaction, sagaSnap *firestore.DocumentSnapshot) (outbox.Decision, error) {
		saga, err := readSaga(sagaSnap)
		if err != nil {
			return outbox.Decision{}, err
		}
		if saga.UserID == "" {
			saga.UserID, saga.TicketID = in.Order.UserID, in.Order.TicketID
		}
		var t *ticket.Ticket
		ref := s.fs.Collection(Tickets).Doc(saga.TicketID)
		if saga.State == ticket.StateGranted {
			if t, err = readTicket(tx, ref); err != nil {
				return outbox.Decision{}, err
			}
		}
		res := ticket.Cancel(saga, t)
		if res.Ticket != nil {
			if err := tx.Update(ref, []firestore.Update{{Path: "stock", Value: res.Ticket.Stock}}); err != nil {
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
	return ticket.Saga{State: ticket.State(d.State), UserID: d.UserID, TicketID: d.TicketID, Quantity: d.Quantity}, nil
}

func readTicket(tx *firestore.Transaction, ref *firestore.DocumentRef) (*ticket.Ticket, error) {
	snap, err := outbox.GetTx(tx, ref)
	if err != nil {
		return nil, err
	}
	if !snap.Exists() {
		return nil, nil
	}
	var d ticketDoc
	if err := snap.DataTo(&d); err != nil {
		return nil, fmt.Errorf("decode ticket %s: %w", ref.ID, err)
	}
	return &ticket.Ticket{Price: d.Price, Stock: d.Stock}, nil
}

func sagaFields(s ticket.Saga) map[string]any {
	return map[string]any{"state": string(s.State), "user_id": s.UserID, "ticket_id": s.TicketID, "quantity": s.Quantity}
}
