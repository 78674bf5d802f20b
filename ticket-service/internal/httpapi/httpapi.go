// Package httpapi is ticket-service's admin and read API (private on
// Cloud Run). Its push endpoint is built from the step table by the kit.
package httpapi

import (
	"context"
	"net/http"

	"github.com/ticketsaga/saga/shared/platform/httpjson"
	"github.com/ticketsaga/saga/ticket-service/internal/app"
	"github.com/ticketsaga/saga/ticket-service/internal/ticket"
)

type tickets struct{ app *app.App }

// ticketBody is PUT's body.
type ticketBody struct {
	Price *int64 `json:"price" httpjson:"required"`
	Stock *int64 `json:"stock" httpjson:"required"`
	// Shards is optional: how many documents the stock is split over.
	Shards *int64 `json:"shards"`
}

// ticketJSON is a ticket type as the API shows it.
type ticketJSON struct {
	TicketID string `json:"ticket_id"`
	Price    int64  `json:"price"`
	Stock    int64  `json:"stock"`
	Shards   int    `json:"shards"`
}

func (api tickets) put(ctx context.Context, ticketID string, body ticketBody) (any, error) {
	shards := 0
	if body.Shards != nil {
		if *body.Shards < 1 || *body.Shards > ticket.MaxShards {
			return nil, httpjson.BadRequest("invalid_shards", "shards must be 1 to %d", ticket.MaxShards)
		}
		shards = int(*body.Shards)
	}
	if err := api.app.PutTicket(ctx, ticketID, *body.Price, *body.Stock, shards); err != nil {
		return nil, err
	}
	return api.get(ctx, ticketID)
}

// catalogJSON is GET /tickets: the ticket types in id order.
type catalogJSON struct {
	Tickets []ticketJSON `json:"tickets"`
}

func (api tickets) list(ctx context.Context) (any, error) {
	listed, err := api.app.Catalog(ctx)
	out := catalogJSON{Tickets: make([]ticketJSON, len(listed))}
	for i, t := range listed {
		out.Tickets[i] = ticketJSON{TicketID: t.TicketID, Price: t.Price, Stock: t.Stock.Stock, Shards: t.Shards}
	}
	return out, err
}

func (api tickets) get(ctx context.Context, ticketID string) (any, error) {
	t, err := api.app.Ticket(ctx, ticketID)
	return ticketJSON{TicketID: ticketID, Price: t.Price, Stock: t.Stock, Shards: t.Shards}, err
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

// Routes returns the admin and read API of a: ticket types (one, or the
// catalog of all), and what each user holds.
func Routes(a *app.App) http.Handler {
	api := tickets{a}
	mux := http.NewServeMux()
	mux.Handle("/", httpjson.Mux(a.Log,
		httpjson.Put("/tickets/{ticket_id}", api.put),
		httpjson.Get("/tickets/{ticket_id}", api.get),
		httpjson.Get("/users/{user_id}/tickets", api.holdings)))
	mux.Handle("GET /tickets", httpjson.Serve(a.Log, func(_ http.ResponseWriter, r *http.Request) (int, any, error) {
		out, err := api.list(r.Context())
		return http.StatusOK, out, err
	}))
	return mux
}
