// Package httpapi is ticket-service's HTTP surface: the admin/read API and
// the push endpoints of its saga steps.
package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/ticketsaga/saga/shared/event"
	"github.com/ticketsaga/saga/shared/httpjson"
	"github.com/ticketsaga/saga/shared/push"
	"github.com/ticketsaga/saga/ticket-service/internal/store"
)

// API serves ticket-service.
type API struct {
	Store *store.Store
	Log   *slog.Logger
	Push  push.Endpoint
}

// Routes returns the admin and read API.
func (a *API) Routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("PUT /tickets/{ticket_id}", a.putTicket)
	mux.HandleFunc("GET /tickets/{ticket_id}", a.getTicket)
	mux.HandleFunc("GET /users/{user_id}/tickets", a.userTickets)
	return mux
}

// PushHandler is the push endpoint of ticket-service's subscription: it
// grants tickets on consumed-point and cancels the grant on stopped-order.
func (a *API) PushHandler() http.Handler {
	return a.Push.Handler(push.Routes{event.ConsumedPoint: a.grant, event.StoppedOrder: a.cancel})
}

type ticketJSON struct {
	TicketID string `json:"ticket_id"`
	Price    int64  `json:"price"`
	Stock    int64  `json:"stock"`
}

var errInvalidID = httpjson.BadRequest("invalid_id", "ids must be %s", event.IDRule)

func (a *API) putTicket(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("ticket_id")
	if !event.ValidID(id) {
		httpjson.WriteError(w, r, a.Log, errInvalidID)
		return
	}
	var body struct {
		Price *int64 `json:"price"`
		Stock *int64 `json:"stock"`
	}
	if err := httpjson.Decode(w, r, &body); err != nil {
		httpjson.WriteError(w, r, a.Log, err)
		return
	}
	switch {
	case body.Price == nil || body.Stock == nil:
		httpjson.WriteError(w, r, a.Log, httpjson.BadRequest("missing_field", "price and stock are required"))
		return
	case *body.Price <= 0 || *body.Price > event.MaxAmount:
		httpjson.WriteError(w, r, a.Log, httpjson.BadRequest("invalid_price", "price must be 1 to %d", int64(event.MaxAmount)))
		return
	case *body.Stock < 0 || *body.Stock > event.MaxAmount:
		httpjson.WriteError(w, r, a.Log, httpjson.BadRequest("invalid_stock", "stock must be 0 to %d", int64(event.MaxAmount)))
		return
	}
	if err := a.Store.PutTicket(r.Context(), id, *body.Price, *body.Stock); err != nil {
		httpjson.WriteError(w, r, a.Log, err)
		return
	}
	httpjson.Write(w, http.StatusOK, ticketJSON{TicketID: id, Price: *body.Price, Stock: *body.Stock})
}

func (a *API) getTicket(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("ticket_id")
	if !event.ValidID(id) {
		httpjson.WriteError(w, r, a.Log, errInvalidID)
		return
	}
	t, err := a.Store.Ticket(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		httpjson.WriteError(w, r, a.Log, &httpjson.Error{Status: http.StatusNotFound, Code: "ticket_not_found", Message: "no ticket " + id})
		return
	}
	if err != nil {
		httpjson.WriteError(w, r, a.Log, err)
		return
	}
	httpjson.Write(w, http.StatusOK, ticketJSON{TicketID: id, Price: t.Price, Stock: t.Stock})
}

type holdingJSON struct {
	TicketID string `json:"ticket_id"`
	Count    int64  `json:"count"`
}

func (a *API) userTickets(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("user_id")
	if !event.ValidID(id) {
		httpjson.WriteError(w, r, a.Log, errInvalidID)
		return
	}
	hs, err := a.Store.Holdings(r.Context(), id)
	if err != nil {
		httpjson.WriteError(w, r, a.Log, err)
		return
	}
	out := struct {
		UserID  string        `json:"user_id"`
		Tickets []holdingJSON `json:"tickets"`
	}{UserID: id, Tickets: []holdingJSON{}}
	for _, h := range hs {
		out.Tickets = append(out.Tickets, holdingJSON{TicketID: h.TicketID, Count: h.Count})
	}
	httpjson.Write(w, http.StatusOK, out)
}

func (a *API) grant(ctx context.Context, m push.Message) error {
	in, err := push.Envelope(m)
	if err != nil {
		return err
	}
	out, err := a.Store.Grant(ctx, in)
	if err != nil {
		return err
	}
	// The happy path is logged at DEBUG: one line per saga ("order settled")
	// is enough in production; a failure is worth its own line.
	level := slog.LevelDebug
	if out.Type != event.GrantedTicket {
		level = slog.LevelInfo
	}
	a.Log.Log(ctx, level, "grant step", "order_id", in.ID, "result", out.Type, "event_id", out.EventID)
	return nil
}

func (a *API) cancel(ctx context.Context, m push.Message) error {
	in, err := push.Envelope(m)
	if err != nil {
		return err
	}
	out, err := a.Store.Cancel(ctx, in)
	if err != nil {
		return err
	}
	a.Log.InfoContext(ctx, "cancel step", "order_id", in.ID, "event_id", out.EventID)
	return nil
}
