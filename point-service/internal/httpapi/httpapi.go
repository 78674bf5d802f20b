// Package httpapi is point-service's HTTP surface: the admin/read API and
// the push endpoints of its saga steps.
package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/ticketsaga/saga/point-service/internal/store"
	"github.com/ticketsaga/saga/shared/event"
	"github.com/ticketsaga/saga/shared/httpjson"
	"github.com/ticketsaga/saga/shared/push"
)

// API serves point-service.
type API struct {
	Store *store.Store
	Log   *slog.Logger
	Push  push.Endpoint
}

// Routes returns the admin and read API.
func (a *API) Routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("PUT /accounts/{user_id}", a.putAccount)
	mux.HandleFunc("GET /accounts/{user_id}", a.getAccount)
	return mux
}

// PushHandler is the push endpoint of point-service's subscription: it
// consumes points on started-order and refunds them on failed-ticket and
// canceled-ticket.
func (a *API) PushHandler() http.Handler {
	return a.Push.Handler(push.Routes{event.StartedOrder: a.consume, event.FailedTicket: a.refund, event.CanceledTicket: a.refund})
}

type account struct {
	UserID  string `json:"user_id"`
	Balance int64  `json:"balance"`
}

func (a *API) putAccount(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("user_id")
	if !event.ValidID(id) {
		httpjson.WriteError(w, r, a.Log, httpjson.BadRequest("invalid_id", "user_id must be %s", event.IDRule))
		return
	}
	var body struct {
		Balance *int64 `json:"balance"`
	}
	if err := httpjson.Decode(w, r, &body); err != nil {
		httpjson.WriteError(w, r, a.Log, err)
		return
	}
	switch {
	case body.Balance == nil:
		httpjson.WriteError(w, r, a.Log, httpjson.BadRequest("missing_field", "balance is required"))
		return
	case *body.Balance < 0 || *body.Balance > event.MaxAmount:
		httpjson.WriteError(w, r, a.Log, httpjson.BadRequest("invalid_balance", "balance must be 0 to %d", int64(event.MaxAmount)))
		return
	}
	if err := a.Store.SetBalance(r.Context(), id, *body.Balance); err != nil {
		httpjson.WriteError(w, r, a.Log, err)
		return
	}
	httpjson.Write(w, http.StatusOK, account{UserID: id, Balance: *body.Balance})
}

func (a *API) getAccount(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("user_id")
	if !event.ValidID(id) {
		httpjson.WriteError(w, r, a.Log, httpjson.BadRequest("invalid_id", "user_id must be %s", event.IDRule))
		return
	}
	bal, err := a.Store.Balance(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		httpjson.WriteError(w, r, a.Log, &httpjson.Error{Status: http.StatusNotFound, Code: "account_not_found", Message: "no account " + id})
		return
	}
	if err != nil {
		httpjson.WriteError(w, r, a.Log, err)
		return
	}
	httpjson.Write(w, http.StatusOK, account{UserID: id, Balance: bal})
}

func (a *API) consume(ctx context.Context, m push.Message) error {
	in, err := push.Envelope(m)
	if err != nil {
		return err
	}
	out, err := a.Store.Consume(ctx, in)
	if err != nil {
		return err
	}
	// The happy path is logged at DEBUG: one line per saga ("order settled")
	// is enough in production; a failure is worth its own line.
	level := slog.LevelDebug
	if out.Type != event.ConsumedPoint {
		level = slog.LevelInfo
	}
	a.Log.Log(ctx, level, "consume step", "order_id", in.ID, "result", out.Type, "event_id", out.EventID)
	return nil
}

func (a *API) refund(ctx context.Context, m push.Message) error {
	in, err := push.Envelope(m)
	if err != nil {
		return err
	}
	cause := "timeout"
	if m.EventType() == event.FailedTicket {
		if in.Ticket == nil || in.Ticket.Reason == "" {
			return push.Poison("failed-ticket without a reason")
		}
		cause = in.Ticket.Reason
	}
	out, err := a.Store.Refund(ctx, in, cause)
	if err != nil {
		return err
	}
	a.Log.InfoContext(ctx, "refund step", "order_id", in.ID, "cause", cause, "event_id", out.EventID)
	return nil
}
