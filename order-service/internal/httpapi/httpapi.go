// Package httpapi is order-service's HTTP surface: the public order API with
// its long-poll, and the push endpoint that settles orders.
package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/ticketsaga/saga/order-service/internal/buyers"
	"github.com/ticketsaga/saga/order-service/internal/order"
	"github.com/ticketsaga/saga/order-service/internal/store"
	"github.com/ticketsaga/saga/shared/event"
	"github.com/ticketsaga/saga/shared/httpjson"
	"github.com/ticketsaga/saga/shared/metrics"
	"github.com/ticketsaga/saga/shared/outbox"
	"github.com/ticketsaga/saga/shared/push"
)

// Long-poll bounds (CONTRACT §2).
const (
	DefaultWait = 25 * time.Second
	MaxWait     = 60 * time.Second
)

// Authenticator tells who sends a request: the buyer's uid, or an error
// wrapping buyers.ErrUnauthenticated.
type Authenticator interface {
	Authenticate(ctx context.Context, r *http.Request) (string, error)
}

// API serves order-service.
type API struct {
	Store *store.Store
	// Buyers authenticates every call of the public API (CONTRACT §2).
	Buyers Authenticator
	Log    *slog.Logger
	Push   push.Endpoint
	Now    func() time.Time
	// Timeout is how long an order may stay pending (ORDER_TIMEOUT).
	Timeout time.Duration
	// Heal schedules the replays that drive stopping orders to their end.
	Heal order.HealPolicy
	// SweepBudget is how long one timeout sweep may start new pages of
	// orders; what is left waits for the next sweep.
	SweepBudget time.Duration
	// Outbox re-publishes order-service's stranded events.
	Outbox *outbox.Steps
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
	mux.HandleFunc("POST /orders", a.postOrder)
	mux.HandleFunc("GET /orders/{order_id}", a.getOrder)
	return mux
}

// PushHandler is the push endpoint of order-service's subscription: the
// events that settle an order.
func (a *API) PushHandler() http.Handler {
	return a.Push.Handler(push.Routes{event.GrantedTicket: a.complete, event.FailedPoint: a.complete, event.RefundedPoint: a.complete})
}

// authenticate answers 401 (with WWW-Authenticate) unless the request
// carries a valid buyer's token, and returns the buyer's uid.
func (a *API) authenticate(w http.ResponseWriter, r *http.Request) (string, bool) {
	uid, err := a.Buyers.Authenticate(r.Context(), r)
	if errors.Is(err, buyers.ErrUnauthenticated) {
		a.Log.InfoContext(r.Context(), "unauthenticated request", "path", r.URL.Path, "error", err.Error())
		w.Header().Set("WWW-Authenticate", `Bearer realm="ticket-saga"`)
		httpjson.WriteError(w, r, a.Log, &httpjson.Error{Status: http.StatusUnauthorized, Code: "unauthenticated",
			Message: "a valid Firebase ID token is required: Authorization: Bearer <ID token>"})
		return "", false
	}
	if err != nil {
		httpjson.WriteError(w, r, a.Log, err)
		return "", false
	}
	return uid, true
}

var errForbidden = &httpjson.Error{Status: http.StatusForbidden, Code: "forbidden", Message: "user_id must be the signed-in buyer's uid"}

type orderRequest struct {
	UserID   *string `json:"user_id"`
	TicketID *string `json:"ticket_id"`
	Quantity *int64  `json:"quantity"`
	Price    *int64  `json:"price"`
}

// decodeOrderRequest reads a POST /orders body: strict JSON, every field
// present but user_id (the buyer's uid is the user id), every value within
// the contract's rules. The user id is the body's, "" when it has none.
func decodeOrderRequest(raw []byte) (order.Request, *httpjson.Error) {
	var body orderRequest
	if herr := httpjson.DecodeBytes(raw, &body); herr != nil {
		return order.Request{}, herr
	}
	if body.TicketID == nil || body.Quantity == nil || body.Price == nil {
		return order.Request{}, httpjson.BadRequest("missing_field", "ticket_id, quantity and price are required")
	}
	req := order.Request{TicketID: *body.TicketID, Quantity: *body.Quantity, Price: *body.Price}
	if body.UserID != nil {
		if !event.ValidID(*body.UserID) {
			return order.Request{}, httpjson.BadRequest("invalid_user_id", "user_id must be %s", event.IDRule)
		}
		req.UserID = *body.UserID
	}
	if err := req.Validate(event.ValidID, event.IDRule, event.MaxAmount); err != nil {
		var ve *order.ValidationError
		errors.As(err, &ve)
		return order.Request{}, httpjson.BadRequest(ve.Code, "%s", ve.Message)
	}
	return req, nil
}

// idempotencyKey returns the request's Idempotency-Key, if it has one: one
// header of 1-255 characters (not bytes) of printable UTF-8.
func idempotencyKey(r *http.Request) (string, bool, *httpjson.Error) {
	vals, ok := r.Header["Idempotency-Key"]
	if !ok {
		return "", false, nil
	}
	bad := httpjson.BadRequest("invalid_idempotency_key", "Idempotency-Key must be one value of 1-%d printable characters", order.MaxIdempotencyKey)
	if len(vals) != 1 || vals[0] == "" || !utf8.ValidString(vals[0]) || utf8.RuneCountInString(vals[0]) > order.MaxIdempotencyKey {
		return "", false, bad
	}
	for _, c := range vals[0] {
		if !unicode.IsPrint(c) {
			return "", false, bad
		}
	}
	return vals[0], true, nil
}

func (a *API) postOrder(w http.ResponseWriter, r *http.Request) {
	// 401 before 400/413 before 403 before 422 (CONTRACT §2).
	uid, ok := a.authenticate(w, r)
	if !ok {
		return
	}
	wait, herr := parseWait(r)
	if herr != nil {
		httpjson.WriteError(w, r, a.Log, herr)
		return
	}
	raw, herr := httpjson.ReadBody(w, r)
	if herr != nil {
		httpjson.WriteError(w, r, a.Log, herr)
		return
	}
	req, herr := decodeOrderRequest(raw)
	if herr != nil {
		httpjson.WriteError(w, r, a.Log, herr)
		return
	}
	key, keyed, herr := idempotencyKey(r)
	if herr != nil {
		httpjson.WriteError(w, r, a.Log, herr)
		return
	}
	if (req.UserID != "" && req.UserID != uid) || !event.ValidID(uid) {
		httpjson.WriteError(w, r, a.Log, errForbidden)
		return
	}
	req.UserID = uid
	id := uuid.NewString()
	if keyed {
		id = order.IDForKey(req.UserID, key)
	}

	now := a.Now().UTC()
	o := order.Order{ID: id, UserID: req.UserID, TicketID: req.TicketID, Quantity: req.Quantity, Price: req.Price,
		Status: order.StatusPending, CreatedAt: now, UpdatedAt: now}
	env := event.Envelope{ID: id, Order: &event.Order{UserID: req.UserID, TicketID: req.TicketID, Quantity: req.Quantity, Price: req.Price}}
	start, err := event.NewMessage(env, event.StartedOrder, event.OrderService, uuid.NewString(), "", now)
	if err != nil {
		httpjson.WriteError(w, r, a.Log, err)
		return
	}
	o.History = []order.Entry{{EventType: string(event.StartedOrder), Service: event.OrderService, At: now}}

	ctx := r.Context()
	// Watch before the order exists: a settle here is then never missed.
	watch := a.Store.Watch(id)
	defer watch.Close()
	o, created, err := a.Store.Create(ctx, o, req.Fingerprint(), start)
	switch {
	case errors.Is(err, store.ErrKeyReused):
		httpjson.WriteError(w, r, a.Log, &httpjson.Error{Status: http.StatusUnprocessableEntity, Code: "idempotency_key_reused",
			Message: "this Idempotency-Key was used for a different request"})
		return
	case err != nil && o.ID == "":
		httpjson.WriteError(w, r, a.Log, err)
		return
	case err != nil:
		// Committed but not yet published: the order exists, and the
		// outbox will publish its event; a retry with the same key
		// re-publishes it at once.
		a.Log.WarnContext(ctx, "started-order not published yet", "order_id", id, "error", err.Error())
	}
	if !o.Status.Terminal() {
		wait, release := a.longPoll(w, wait)
		defer release()
		if o, err = watch.Wait(ctx, wait, a.Draining, created); err != nil {
			httpjson.WriteError(w, r, a.Log, err)
			return
		}
	}
	switch {
	case o.Status == order.StatusCompleted:
		httpjson.Write(w, http.StatusCreated, toJSON(o))
	case o.Status.Terminal():
		body := toJSON(o)
		body.Error = &httpjson.ErrorDetail{Code: o.Reason, Message: "order " + string(o.Status) + ": " + o.Reason}
		httpjson.Write(w, http.StatusConflict, body)
	default:
		w.Header().Set("Location", "/orders/"+id)
		httpjson.Write(w, http.StatusAccepted, toJSON(o))
	}
}

func (a *API) getOrder(w http.ResponseWriter, r *http.Request) {
	uid, ok := a.authenticate(w, r)
	if !ok {
		return
	}
	id := r.PathValue("order_id")
	if !event.ValidID(id) {
		httpjson.WriteError(w, r, a.Log, httpjson.BadRequest("invalid_order_id", "order_id must be %s", event.IDRule))
		return
	}
	wait, herr := parseWait(r)
	if herr != nil {
		httpjson.WriteError(w, r, a.Log, herr)
		return
	}
	// Another buyer's order is not found: its existence is not revealed,
	// not even by how long the answer takes.
	o, err := a.Store.Get(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) || err == nil && o.UserID != uid {
		httpjson.WriteError(w, r, a.Log, &httpjson.Error{Status: http.StatusNotFound, Code: "order_not_found", Message: "no order " + id})
		return
	}
	if err != nil {
		httpjson.WriteError(w, r, a.Log, err)
		return
	}
	if !o.Status.Terminal() && wait > 0 {
		var release func()
		wait, release = a.longPoll(w, wait)
		defer release()
		o, err = a.Store.WaitTerminal(r.Context(), id, wait, a.Draining)
	}
	if err != nil {
		httpjson.WriteError(w, r, a.Log, err)
		return
	}
	httpjson.Write(w, http.StatusOK, toJSON(o))
}

// longPoll takes one of the instance's long-poll places for a wait; when
// none is left, the wait becomes 0 and the answer says when to ask again.
func (a *API) longPoll(w http.ResponseWriter, wait time.Duration) (time.Duration, func()) {
	if wait <= 0 {
		return 0, func() {}
	}
	if n := metrics.LongPolls.Add(1); a.MaxLongPolls > 0 && n > a.MaxLongPolls {
		metrics.LongPolls.Add(-1)
		w.Header().Set("Retry-After", "1")
		return 0, func() {}
	}
	return wait, func() { metrics.LongPolls.Add(-1) }
}

func parseWait(r *http.Request) (time.Duration, *httpjson.Error) {
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

// settlers is which service may send each event that settles an order.
var settlers = map[event.Type]string{event.GrantedTicket: event.TicketService, event.FailedPoint: event.PointService, event.RefundedPoint: event.PointService}

func (a *API) complete(ctx context.Context, m push.Message) error {
	in, err := push.Envelope(m)
	if err != nil {
		return err
	}
	t := m.EventType()
	if src := m.Attributes[event.AttrSource]; src != settlers[t] {
		return push.Poison("%s from %q, not %s", t, src, settlers[t])
	}
	var reason string
	if t != event.GrantedTicket {
		if in.Point == nil || in.Point.Reason == "" {
			return push.Poison("%s without a reason", t)
		}
		reason = in.Point.Reason
	}
	o, changed, err := a.Store.Apply(ctx, in, t, reason, a.Now().UTC())
	if errors.Is(err, store.ErrNotFound) {
		return push.Poison("%s for unknown order %s", t, in.ID)
	}
	if err != nil {
		return err
	}
	if changed {
		a.Log.InfoContext(ctx, "order settled", "order_id", o.ID, "status", o.Status, "reason", o.Reason, "event_type", t)
	}
	return nil
}

type entryJSON struct {
	EventType string    `json:"event_type"`
	Service   string    `json:"service"`
	At        time.Time `json:"at"`
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

// SweepHandler is the timeout task endpoint.
func (a *API) SweepHandler() http.Handler { return http.HandlerFunc(a.sweep) }

type sweepJSON struct {
	Stopped     int  `json:"stopped"`
	Replayed    int  `json:"replayed"`
	GaveUp      int  `json:"gave_up"`
	Failed      int  `json:"failed"`
	Republished int  `json:"republished"`
	More        bool `json:"more"`
}

// sweep is the timeout task: it stops every expired pending order, replays
// the stop of stopping orders whose compensation stalled (self-healing),
// then sweeps the outbox (a started-order or stopped-order whose publish
// was lost). Cloud Scheduler calls it; so does `make run` every
// SWEEP_INTERVAL. Each part runs even when another failed, and an order
// that fails is logged and left for the next sweep.
func (a *API) sweep(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	now := a.Now().UTC()
	deadline := time.Now().Add(a.SweepBudget)
	var out sweepJSON
	var failures []error

	stop, err := a.Store.StopExpired(ctx, now, a.Timeout, a.Heal, deadline)
	if err != nil {
		failures = append(failures, err)
	}
	heal, err := a.Store.Heal(ctx, now, a.Heal, deadline)
	if err != nil {
		failures = append(failures, err)
	}
	for _, res := range []store.SweepResult{stop, heal} {
		for _, err := range res.Errors {
			msg := "timeout sweep: an order failed; the next sweep tries it again"
			if errors.Is(err, store.ErrGaveUp) {
				msg = "timeout sweep: an order is still stopping after every replay; an operator must look (sagactl stuck)"
			}
			a.Log.ErrorContext(ctx, msg, "error", err.Error())
		}
		if extra := res.Failed + res.GaveUp - len(res.Errors); extra > 0 {
			a.Log.ErrorContext(ctx, "timeout sweep: more orders failed", "count", extra)
		}
	}
	ob, err := a.Outbox.Sweep(ctx, []string{store.StepStart, store.StepStop})
	a.Outbox.LogSweep(ctx, ob)
	if err != nil {
		failures = append(failures, err)
	}

	out = sweepJSON{Stopped: stop.Done, Replayed: heal.Done, GaveUp: heal.GaveUp, Failed: stop.Failed + heal.Failed + ob.Failed,
		Republished: ob.Republished, More: stop.More || heal.More}
	if out != (sweepJSON{}) {
		a.Log.InfoContext(ctx, "timeout sweep", "stopped", out.Stopped, "replayed", out.Replayed, "gave_up", out.GaveUp,
			"failed", out.Failed, "republished", out.Republished, "more", out.More)
	}
	if len(failures) > 0 {
		httpjson.WriteError(w, r, a.Log, errors.Join(failures...))
		return
	}
	httpjson.Write(w, http.StatusOK, out)
}
