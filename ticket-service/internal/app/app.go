// Package app is ticket-service's application layer: its step table (which
// event runs which step), its steps, and its admin and read use cases. It
// decides with the domain (package ticket) and leaves storage to a Store.
package app

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/ticketsaga/saga/shared/event"
	"github.com/ticketsaga/saga/shared/saga"
	"github.com/ticketsaga/saga/ticket-service/internal/ticket"
)

// Step names: the keys of the steps' events in the saga document.
const (
	StepGrant  = ticket.StepGrant
	StepCancel = ticket.StepCancel
)

// Table is ticket-service's step table: the only place that says which
// events it handles.
var Table = saga.Steps{
	saga.ConsumedPoint: StepGrant,  // paid for: take the tickets, or fail
	saga.StoppedOrder:  StepCancel, // timed out: put back whatever was taken
}

// Steps returns the steps Table names.
func (a *App) Steps() map[string]event.Step {
	return map[string]event.Step{StepGrant: a.grant, StepCancel: a.cancel}
}

// GrantDecide decides the grant from the order's ticket saga, the ticket
// type (nil when there is none; typeErr says it cannot be read) and
// available, the stock the store found for this grant. The store calls it
// either with available >= the order's quantity, or with available all the
// stock the type has (a complete view): fewer than the quantity is then
// sold_out. A store that found less on an incomplete view looks further
// instead of calling it. Granted, the saga holds the order's quantity,
// which the store takes from the stock it found.
type GrantDecide func(s ticket.Saga, t *ticket.Ticket, typeErr error, available int64) (ticket.GrantResult, saga.Outcome, error)

// CancelDecide decides the cancel from the order's ticket saga: how many
// tickets go back (CancelResult.Give), which the store puts back where the
// grant took them from.
type CancelDecide func(s ticket.Saga) (ticket.CancelResult, saga.Outcome, error)

// Stock is a ticket type as the API shows it.
type Stock struct {
	Price, Stock int64
	Shards       int
}

// Store is what the use cases need of storage.
type Store interface {
	// Grant and Cancel run their step for in's order at most once, in a
	// transaction with the documents they decide from, and return its
	// event (the stored one if it ran before).
	Grant(ctx context.Context, in event.Envelope, decide GrantDecide) (event.Message, error)
	Cancel(ctx context.Context, in event.Envelope, decide CancelDecide) (event.Message, error)
	// PutTicket splits the stock over shards, or over the store's
	// default for it when shards is 0.
	PutTicket(ctx context.Context, id string, price, stock int64, shards int) error
	// Ticket returns a ticket type, or a saga.NotFound error.
	Ticket(ctx context.Context, id string) (Stock, error)
	// Holdings returns the granted sagas of userID.
	Holdings(ctx context.Context, userID string) ([]ticket.Saga, error)
}

// App is ticket-service's use cases.
type App struct {
	Store Store
	// Catalogue lists the ticket types (GET /tickets); nil serves none.
	Catalogue CatalogStore
	Log       *slog.Logger
}

// grant gives the order its tickets, once per order.
func (a *App) grant(ctx context.Context, _ saga.EventType, in event.Envelope) (event.Message, error) {
	req := ticket.Request{UserID: in.Order.UserID, TicketID: in.Order.TicketID, Quantity: in.Order.Quantity, Price: in.Order.Price}
	return a.Store.Grant(ctx, in, func(s ticket.Saga, t *ticket.Ticket, typeErr error, available int64) (ticket.GrantResult, saga.Outcome, error) {
		if saga.KindOf(typeErr) == saga.Corrupt {
			// A ticket type whose records cannot be read sells nothing:
			// the order fails as for an unknown ticket, and its points
			// are refunded.
			a.Log.ErrorContext(ctx, "grant: the ticket cannot be read; failing the order as unknown_ticket", "order_id", in.ID, "error", typeErr.Error())
			t, available, typeErr = nil, 0, nil
		}
		if typeErr != nil {
			return ticket.GrantResult{}, saga.Outcome{}, typeErr
		}
		res := ticket.Grant(s, t, available, req)
		return res, saga.Forward(saga.GrantedTicket, saga.FailedTicket, res.Reason), nil
	})
}

// cancel takes back the order's grant, once per order: what the grant
// took, of the ticket it took it from.
func (a *App) cancel(ctx context.Context, _ saga.EventType, in event.Envelope) (event.Message, error) {
	return a.Store.Cancel(ctx, in, func(s ticket.Saga) (ticket.CancelResult, saga.Outcome, error) {
		if s.UserID == "" {
			s.UserID, s.TicketID = in.Order.UserID, in.Order.TicketID
		}
		if s.UserID != in.Order.UserID || s.TicketID != in.Order.TicketID {
			return ticket.CancelResult{}, saga.Outcome{}, saga.E(saga.Permanent, "cancel_refused",
				"cancel for %s/%s of an order granted to %s/%s", in.Order.UserID, in.Order.TicketID, s.UserID, s.TicketID)
		}
		return ticket.Cancel(s), saga.Outcome{Event: saga.CanceledTicket, Reason: saga.ReasonTimeout}, nil
	})
}

// PutTicket creates or replaces a ticket type (admin), its stock split
// over shards documents (0: the default for its stock).
func (a *App) PutTicket(ctx context.Context, id string, price, stock int64, shards int) error {
	switch {
	case price <= 0 || price > saga.MaxAmount:
		return saga.E(saga.Invalid, "invalid_price", "price must be 1 to %d", int64(saga.MaxAmount))
	case stock < 0 || stock > saga.MaxAmount:
		return saga.E(saga.Invalid, "invalid_stock", "stock must be 0 to %d", int64(saga.MaxAmount))
	case shards < 0 || shards > ticket.MaxShards:
		return saga.E(saga.Invalid, "invalid_shards", "shards must be 1 to %d", ticket.MaxShards)
	}
	if err := a.Store.PutTicket(ctx, id, price, stock, shards); err != nil {
		return fmt.Errorf("put ticket %s: %w", id, err)
	}
	return nil
}

// Ticket returns a ticket type, or a saga.NotFound error.
func (a *App) Ticket(ctx context.Context, id string) (Stock, error) { return a.Store.Ticket(ctx, id) }

// Holdings returns the tickets userID owns.
func (a *App) Holdings(ctx context.Context, userID string) ([]ticket.Holding, error) {
	sagas, err := a.Store.Holdings(ctx, userID)
	if err != nil {
		return nil, err
	}
	return ticket.Holdings(sagas), nil
}

// Listed is a ticket type in the catalog.
type Listed struct {
	TicketID string
	Stock
}

// CatalogStore lists ticket types.
type CatalogStore interface {
	Tickets(ctx context.Context, limit int) ([]Listed, error)
}

// MaxCatalog bounds the catalog: a shop of tens of ticket types, each
// read with its shards.
const MaxCatalog = 100

// Catalog returns the ticket types on sale, in id order, at most
// MaxCatalog.
func (a *App) Catalog(ctx context.Context) ([]Listed, error) {
	if a.Catalogue == nil {
		return nil, saga.E(saga.NotFound, "not_found", "this ticket-service has no catalog")
	}
	return a.Catalogue.Tickets(ctx, MaxCatalog)
}
