// Package service wires order-service: its configuration, read once in
// main, and the one place that builds its store, use cases and API.
package service

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/ticketsaga/saga/order-service/internal/app"
	"github.com/ticketsaga/saga/order-service/internal/buyers"
	"github.com/ticketsaga/saga/order-service/internal/firestore"
	"github.com/ticketsaga/saga/order-service/internal/httpapi"
	"github.com/ticketsaga/saga/order-service/internal/longpoll"
	"github.com/ticketsaga/saga/order-service/reconcile"
	"github.com/ticketsaga/saga/order-service/records"
	"github.com/ticketsaga/saga/shared/kit"
	"github.com/ticketsaga/saga/shared/metrics"
	"github.com/ticketsaga/saga/shared/saga"
	"github.com/ticketsaga/saga/shared/serve"
	"github.com/ticketsaga/saga/shared/telemetry"
)

// waitSpan is a long-poll's wait, in the trace of its request.
func waitSpan(ctx context.Context, id string) (context.Context, func()) {
	return telemetry.Region(ctx, "order-service long-poll wait", attribute.String("saga.order_id", id))
}

// Table is order-service's step table (which events it handles).
var Table = app.Table

// New wires order-service. Its long-polls answer at once when ctx ends
// (the instance is draining).
func New(ctx context.Context, cfg Config, log *slog.Logger, opts serve.Options) (*serve.App, error) {
	k, err := kit.New(ctx, cfg.Common, log, opts, records.Orders)
	if err != nil {
		return nil, err
	}
	buyerAuth, err := buyers.New(ctx, cfg.FirebaseProject, cfg.FirebaseAuthEmulatorHost != "")
	if err != nil {
		k.Close()
		return nil, err
	}
	store := firestore.New(k.Clients.Firestore, k.Outbox)
	metrics.LongPollLimit.Store(cfg.MaxLongPolls)
	a := &app.App{Store: timedStore{store}, Log: log, Now: time.Now, Observe: observer{},
		Polls:  &longpoll.Poller{Listen: store.Listen, Get: store.Get, ListenAfter: cfg.ListenAfter, Span: waitSpan},
		Config: app.Config{Timeout: cfg.OrderTimeout, Heal: cfg.Heal, SweepBudget: cfg.SweepBudget}}
	api := &httpapi.API{App: a, Buyers: buyerAuth, Log: log, MaxLongPolls: cfg.MaxLongPolls, Draining: ctx.Done()}
	reconciler := reconcile.New(k.Clients.Firestore, k.Clients.Publisher, cfg.OrderTimeout, cfg.Heal.Max)
	return k.App(kit.Service{
		API:   api.Routes(),
		Table: app.Table,
		Steps: a.Steps(),
		Tasks: map[string]http.Handler{saga.TaskSweep: api.SweepHandler(), saga.TaskReconcile: reconciler.Handler(log)},
	})
}
