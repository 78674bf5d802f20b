// Package opsapi is the JSON API behind the operator page (/ops): stuck
// orders, dead letters grouped by subscription and reason with a redrive
// per group, the last reconciliation runs, and one order's timeline across
// the three services. It reads through order-service/ops, as sagactl does.
package opsapi

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/ticketsaga/saga/order-service/ops"
	"github.com/ticketsaga/saga/order-service/reconcile"
	"github.com/ticketsaga/saga/shared/platform/httpjson"
	"github.com/ticketsaga/saga/shared/saga"
)

// Operators decides who may use the API: nil error for an operator.
type Operators interface {
	Allow(ctx context.Context, r *http.Request) error
}

// API serves the operator page's data.
type API struct {
	FS          *firestore.Client
	DeadLetters ops.DeadLetters
	Operators   Operators
	Log         *slog.Logger
	Now         func() time.Time
}

// Prefix is where the API lives.
const Prefix = "/ops/api/"

// Routes returns the API, every route behind Operators.
func (a *API) Routes() http.Handler {
	mux := http.NewServeMux()
	for pattern, h := range map[string]httpjson.Handler{
		"GET " + Prefix + "stuck":                      a.stuck,
		"GET " + Prefix + "deadletters":                a.deadLetters,
		"POST " + Prefix + "redrive":                   a.redrive,
		"GET " + Prefix + "reconciliations":            a.reconciliations,
		"GET " + Prefix + "orders/{order_id}/timeline": a.timeline,
	} {
		mux.Handle(pattern, httpjson.Serve(a.Log, a.allowed(h)))
	}
	return mux
}

func (a *API) allowed(h httpjson.Handler) httpjson.Handler {
	return func(w http.ResponseWriter, r *http.Request) (int, any, error) {
		// Only the operator page itself: locally the API is open, and a
		// browser would otherwise let any site it visits post a redrive
		// to 127.0.0.1.
		if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
			return 0, nil, saga.E(saga.Forbidden, "forbidden", "the operator API answers the operator page only")
		}
		if err := a.Operators.Allow(r.Context(), r); err != nil {
			return 0, nil, err
		}
		return h(w, r)
	}
}

type stuckJSON struct {
	OrderID    string     `json:"order_id"`
	Status     string     `json:"status"`
	CreatedAt  time.Time  `json:"created_at"`
	AgeSeconds int64      `json:"age_seconds"`
	Replays    int        `json:"replays"`
	NextReplay *time.Time `json:"next_replay,omitempty"`
	GaveUp     bool       `json:"gave_up"`
}

// maxAge bounds older_than: a week is past every retention here.
const maxAge = 7 * 24 * time.Hour

func (a *API) stuck(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	age := time.Minute
	if v := r.URL.Query().Get("older_than"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 || d > maxAge {
			return 0, nil, httpjson.BadRequest("invalid_older_than", "older_than must be a Go duration from 0s to %s", maxAge)
		}
		age = d
	}
	orders, err := ops.Stuck(r.Context(), a.FS, a.Now(), age)
	if err != nil {
		return 0, nil, err
	}
	out := struct {
		OlderThan string      `json:"older_than"`
		Orders    []stuckJSON `json:"orders"`
	}{OlderThan: age.String(), Orders: make([]stuckJSON, len(orders))}
	for i, o := range orders {
		out.Orders[i] = stuckJSON{OrderID: o.OrderID, Status: o.Status, CreatedAt: o.CreatedAt, AgeSeconds: int64(o.Age / time.Second),
			Replays: o.Replays, NextReplay: o.NextReplay, GaveUp: o.GaveUp}
	}
	return http.StatusOK, out, nil
}

type groupJSON struct {
	Subscription string   `json:"subscription"`
	Reason       string   `json:"reason"`
	Count        int      `json:"count"`
	Open         int      `json:"open"`
	EventIDs     []string `json:"event_ids"`
	OrderIDs     []string `json:"order_ids"`
}

func (a *API) holdConfigured() error {
	if a.DeadLetters.Routing.Hold == "" {
		return saga.E(saga.Unavailable, "dead_letters_unavailable", "this order-service does not know the dead-letter hold subscription (DEAD_LETTER_SUBSCRIPTION)")
	}
	return nil
}

func (a *API) deadLetters(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	if err := a.holdConfigured(); err != nil {
		return 0, nil, err
	}
	dls, err := a.DeadLetters.List(r.Context())
	if err != nil {
		return 0, nil, err
	}
	orders := map[string][]string{}
	for _, dl := range dls {
		if dl.OrderID != "" {
			orders[dl.EventID] = append(orders[dl.EventID], dl.OrderID)
		}
	}
	groups := ops.GroupBy(dls)
	out := struct {
		Total int `json:"total"`
		// Truncated: there may be more than the Total listed.
		Truncated bool        `json:"truncated"`
		Groups    []groupJSON `json:"groups"`
	}{Total: len(dls), Truncated: len(dls) >= ops.MaxListed, Groups: make([]groupJSON, len(groups))}
	for i, g := range groups {
		gj := groupJSON{Subscription: g.Subscription, Reason: g.Reason, Count: g.Count, Open: g.Open, EventIDs: g.EventIDs, OrderIDs: []string{}}
		for _, id := range g.EventIDs {
			gj.OrderIDs = append(gj.OrderIDs, orders[id]...)
		}
		out.Groups[i] = gj
	}
	return http.StatusOK, out, nil
}

type redriveBody struct {
	Subscription *string `json:"subscription" httpjson:"required"`
	// Reason, when set, redrives only the group with that reason.
	Reason *string `json:"reason"`
}

func (a *API) redrive(w http.ResponseWriter, r *http.Request) (int, any, error) {
	if err := a.holdConfigured(); err != nil {
		return 0, nil, err
	}
	var body redriveBody
	if err := httpjson.Decode(w, r, &body); err != nil {
		return 0, nil, err
	}
	if body.Subscription == nil {
		return 0, nil, httpjson.BadRequest("missing_field", "subscription is required")
	}
	if !saga.ValidID(*body.Subscription) {
		return 0, nil, httpjson.BadRequest("invalid_subscription", "subscription must be the name of the subscription to redrive to")
	}
	sub := *body.Subscription
	n, err := a.DeadLetters.Redrive(r.Context(), func(dl ops.DeadLetter) bool {
		return dl.Subscription == sub && (body.Reason == nil || dl.Reason == *body.Reason)
	})
	if err != nil {
		return 0, nil, err
	}
	a.Log.InfoContext(r.Context(), "dead letters redriven from the operator page", "subscription", sub, "redriven", n)
	return http.StatusOK, struct {
		Subscription string `json:"subscription"`
		Redriven     int    `json:"redriven"`
	}{sub, n}, nil
}

func (a *API) reconciliations(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	runs, err := reconcile.LastRuns(r.Context(), a.FS, 10)
	if err != nil {
		return 0, nil, err
	}
	if runs == nil {
		runs = []reconcile.Run{}
	}
	return http.StatusOK, struct {
		Runs []reconcile.Run `json:"runs"`
	}{runs}, nil
}

type rowJSON struct {
	At        time.Time `json:"at"`
	Service   string    `json:"service"`
	Step      string    `json:"step"`
	EventType string    `json:"event_type"`
	EventID   string    `json:"event_id"`
	Reason    string    `json:"reason,omitempty"`
}

func (a *API) timeline(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	id, err := httpjson.PathID(r, "order_id", "invalid_order_id")
	if err != nil {
		return 0, nil, err
	}
	tl, err := ops.OrderTimeline(r.Context(), a.FS, id)
	if err != nil {
		return 0, nil, err
	}
	out := struct {
		OrderID     string    `json:"order_id"`
		Status      string    `json:"status"`
		Reason      string    `json:"reason,omitempty"`
		PointState  string    `json:"point_state"`
		TicketState string    `json:"ticket_state"`
		TraceID     string    `json:"trace_id,omitempty"`
		Rows        []rowJSON `json:"rows"`
	}{OrderID: tl.OrderID, Status: tl.Status, Reason: tl.Reason, PointState: tl.PointState, TicketState: tl.TicketState, TraceID: tl.TraceID,
		Rows: make([]rowJSON, len(tl.Rows))}
	for i, row := range tl.Rows {
		out.Rows[i] = rowJSON{At: row.At, Service: row.Service, Step: row.Step, EventType: string(row.EventType), EventID: row.EventID,
			Reason: row.Reason}
	}
	return http.StatusOK, out, nil
}
