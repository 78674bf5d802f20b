// Package httpapi is ticket-service's admin and read API (private on
// Cloud Run). Its push endpoint is built from the step table by the kit.
package httpapi

import (
	"context"
	"net/http"

	"github.com/ticketsaga/saga/shared/httpjson"
	"github.com/ticketsaga/saga/ticket-service/internal/app"
)

type tickets struct{ app *app.App }

// ticketBody is PUT's body.
type ticketBody struct {
	Price *int64 `json:"price" httpjson:"required"`
	Stock *int64 `json:"stock" httpjson:"required"`
}

// ticketJSON is a ticket type as the API shows it.
type ticketJSON struct {
	TicketID string `json:"ticket_id"`
	Price    int64  `json:"price"`
	Stock    int64  `json:"stock"`
}

func (api tickets) put(ctx context.Context, ticketID string, body ticketBody) (any, error) {
	if err := api.app.PutTicket(ctx, ticketID, *body.Price, *body.Stock); err != nil {
		return nil, err
	}
	return ticketJSON{TicketID: ticketID, Price: *body.Price, Stock: *body.Stock}, nil
}

func (api tickets) get(ctx context.Context, ticketID string) (any, error) {
	t, err := api.app.Ticket(ctx, ticketID)
	return ticketJSON{TicketID: ticketID, Price: t.Price, Stock: t.Stock}, err
}

// holdingsJSON is what a user holds: one entry per ticket type.
type holdingsJSON struct {
	UserID  string        `json:"user_id"`
	Tickets []holdingJSON `json:"tickets"`
}

type holdingJSON struct {
	TicketID string `json:"ticket_id"`
	Count    int64  `json:"count"`
}

func (api tickets) holdings(ctx context.Context, userID string) (any, error) {
	held, err := api.app.Holdings(ctx, userID)
	out := holdingsJSON{UserID: userID, Tickets: make([]holdingJSON, len(held))}
	for i, h := range held {
		out.Tickets[i] = holdingJSON{TicketID: h.TicketID, Count: h.Count}
	}
	return out, err
}

// Routes returns the admin and read API of a: ticket types, and what each
// user holds.
func Routes(a *app.App) http.Handler {
	api := tickets{a}
	return httpjson.Mux(a.Log,
		httpjson.Put("/tickets/{ticket_id}", api.put),
		httpjson.Get("/tickets/{ticket_id}", api.get),
		httpjson.Get("/users/{user_id}/tickets", api.holdings))
}
