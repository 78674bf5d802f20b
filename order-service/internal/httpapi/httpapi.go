// Package httpapi is order-service's HTTP surface: the public order API,
// authenticated per buyer, with its long-poll, and the task endpoints. Its
// push endpoint is built from the step table by the kit.
package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/ticketsaga/saga/order-service/internal/app"
	"github.com/ticketsaga/saga/order-service/internal/order"
	"github.com/ticketsaga/saga/order-service/internal/ordermetrics"
	"github.com/ticketsaga/saga/shared/platform/httpjson"
	"github.com/ticketsaga/saga/shared/saga"
)

// Long-poll bounds (docs/contract.md, HTTP API).
const (
	DefaultWait = 25 * time.Second
	MaxWait     = 60 * time.Second
)

// Authenticator tells who sends a request: the buyer's uid, or a
// saga.Unauthenticated error.
type Authenticator interface {
	Authenticate(ctx context.Context, r *http.Request) (string, error)
}

// API serves order-service.
type API struct {
	App *app.App
	// Buyers authenticates every call of the public API (docs/contract.md, HTTP API).
	Buyers Authenticator
	Log    *slog.Logger
	// MaxLongPolls bounds the long-polls this instance holds at once:
	// past it, a request is answered at once as if it asked wait=0s (202
	// with Location, or the order as it is), with Retry-After.
	MaxLongPolls int64
	// Draining closes when the instance starts shutting down: long-polls
	// then answer at once with the order as it is (202 + Location), so
	// clients carry on with another instance instead of seeing an error.
	Draining <-chan struct{}
}

// Routes returns the public API.
func (a *API) Routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("POST /orders", httpjson.Serve(a.Log, a.postOrder))
	mux.Handle("GET /orders/{order_id}", httpjson.Serve(a.Log, a.getOrder))
	mux.Handle("GET /me", httpjson.Serve(a.Log, a.getMe))
	mux.Handle("GET /catalog", httpjson.Serve(a.Log, a.getCatalog))
	return mux
}

// SweepHandler is the timeout task endpoint.
func (a *API) SweepHandler() http.Handler {
	return httpjson.Serve(a.Log, func(w http.ResponseWriter, r *http.Request) (int, any, error) {
		rep, err := a.App.Sweep(r.Context())
		return http.StatusOK, rep, err
	})
}

type orderRequest struct {
	UserID   *string `json:"user_id"`
	TicketID *string `json:"ticket_id"`
	Quantity *int64  `json:"quantity"`
	Price    *int64  `json:"price"`
}

// decodeOrderRequest reads a POST /orders body: strict JSON, every field
// present but user_id (the buyer's uid is the user id), every value within
// the contract's rules. The user id is the body's, "" when it has none.
func decodeOrderRequest(raw []byte) (order.Request, error) {
	var body orderRequest
	if err := httpjson.DecodeBytes(raw, &body); err != nil {
		return order.Request{}, err
	}
	if body.TicketID == nil || body.Quantity == nil || body.Price == nil {
		return order.Request{}, httpjson.BadRequest("missing_field", "ticket_id, quantity and price are required")
	}
	req := order.Request{TicketID: *body.TicketID, Quantity: *body.Quantity, Price: *body.Price}
	if body.UserID != nil {
		if !saga.ValidID(*body.UserID) {
			return order.Request{}, httpjson.BadRequest("invalid_user_id", "user_id must be %s", saga.IDRule)
		}
		req.UserID = *body.UserID
	}
	if err := req.Validate(saga.ValidID, saga.IDRule, saga.MaxAmount); err != nil {
		var ve *order.ValidationError
		if !errors.As(err, &ve) {
			return order.Request{}, err
		}
		return order.Request{}, httpjson.BadRequest(ve.Code, "%s", ve.Message)
	}
	return req, nil
}

// idempotencyKey returns the request's Idempotency-Key, "" when it has
// none: one header of 1-255 characters (not bytes) of printable UTF-8.
func idempotencyKey(r *http.Request) (string, error) {
	vals, ok := r.Header["Idempotency-Key"]
	if !ok {
		return "", nil
	}
	bad := httpjson.BadRequest("invalid_idempotency_key", "Idempotency-Key must be one value of 1-%d printable characters", order.MaxIdempotencyKey)
	if len(vals) != 1 || vals[0] == "" || !utf8.ValidString(vals[0]) || utf8.RuneCountInString(vals[0]) > order.MaxIdempotencyKey {
		return "", bad
	}
	for _, c := range vals[0] {
		if !unicode.IsPrint(c) {
			return "", bad
		}
	}
	return vals[0], nil
}

func (a *API) postOrder(w http.ResponseWriter, r *http.Request) (int, any, error) {
	// 401 before 400/413 before 403 before 422 (docs/contract.md, HTTP API).
	uid, err := a.Buyers.Authenticate(r.Context(), r)
	if err != nil {
		return 0, nil, err
	}
	wait, err := parseWait(r)
	if err != nil {
		return 0, nil, err
	}
	raw, herr := httpjson.ReadBody(w, r)
	if herr != nil {
		return 0, nil, herr
	}
	req, err := decodeOrderRequest(raw)
	if err != nil {
		return 0, nil, err
	}
	key, err := idempotencyKey(r)
	if err != nil {
		return 0, nil, err
	}
	if (req.UserID != "" && req.UserID != uid) || !saga.ValidID(uid) {
		return 0, nil, saga.E(saga.Forbidden, "forbidden", "user_id must be the signed-in buyer's uid")
	}
	req.UserID = uid
	o, err := a.App.Place(r.Context(), req, key, a.wait(w, wait))
	if err != nil {
		return 0, nil, err
	}
	switch {
	case o.Status == order.StatusCompleted:
		return http.StatusCreated, toJSON(o), nil
	case o.Status.Terminal():
		body := toJSON(o)
		body.Error = &httpjson.ErrorDetail{Code: o.Reason, Message: "order " + string(o.Status) + ": " + o.Reason}
		return http.StatusConflict, body, nil
	}
	w.Header().Set("Location", "/orders/"+o.ID)
	return http.StatusAccepted, toJSON(o), nil
}

func (a *API) getOrder(w http.ResponseWriter, r *http.Request) (int, any, error) {
	uid, err := a.Buyers.Authenticate(r.Context(), r)
	if err != nil {
		return 0, nil, err
	}
	id, err := httpjson.PathID(r, "order_id", "invalid_order_id")
	if err != nil {
		return 0, nil, err
	}
	wait, err := parseWait(r)
	if err != nil {
		return 0, nil, err
	}
	o, err := a.App.Get(r.Context(), uid, id, a.wait(w, wait))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, toJSON(o), nil
}

// wait is a long-poll of up to d that holds one of the instance's places
// while it waits; when none is left, the wait becomes 0 and the answer says
// when to ask again.
func (a *API) wait(w http.ResponseWriter, d time.Duration) app.Wait {
	return app.Wait{For: d, Drain: a.Draining, Hold: func(d time.Duration) (time.Duration, func()) {
		if n := ordermetrics.LongPolls.Add(1); a.MaxLongPolls > 0 && n > a.MaxLongPolls {
			ordermetrics.LongPolls.Add(-1)
			w.Header().Set("Retry-After", "1")
			return 0, func() {}
		}
		return d, func() { ordermetrics.LongPolls.Add(-1) }
	}}
}

func parseWait(r *http.Request) (time.Duration, error) {
	v := r.URL.Query().Get("wait")
	if v == "" {
		return DefaultWait, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 || d > MaxWait {
		return 0, httpjson.BadRequest("invalid_wait", "wait must be a Go duration from 0s to %s", MaxWait)
	}
	return d, nil
}

type entryJSON struct {
	EventType saga.EventType `json:"event_type"`
	Service   string         `json:"service"`
	At        time.Time      `json:"at"`
}

type orderJSON struct {
	OrderID   string      `json:"order_id"`
	UserID    string      `json:"user_id"`
	TicketID  string      `json:"ticket_id"`
	Quantity  int64       `json:"quantity"`
	Price     int64       `json:"price"`
	Status    string      `json:"status"`
	Reason    string      `json:"reason,omitempty"`
	CreatedAt time.Time   `json:"created_at"`
	UpdatedAt time.Time   `json:"updated_at"`
	History   []entryJSON `json:"history"`
	// Error repeats the reason of a failed or cancelled order in the
	// contract's error shape, for clients that read only that.
	Error *httpjson.ErrorDetail `json:"error,omitempty"`
}

func toJSON(o order.Order) orderJSON {
	out := orderJSON{OrderID: o.ID, UserID: o.UserID, TicketID: o.TicketID, Quantity: o.Quantity, Price: o.Price,
		Status: string(o.Status), CreatedAt: o.CreatedAt, UpdatedAt: o.UpdatedAt, History: []entryJSON{}}
	if o.Status == order.StatusStopping {
		// Compensations are still running: to the user it is pending.
		out.Status = string(order.StatusPending)
	}
	if o.Status == order.StatusFailed || o.Status == order.StatusCancelled {
		out.Reason = o.Reason
	}
	for _, e := range o.History {
		out.History = append(out.History, entryJSON(e))
	}
	return out
}
