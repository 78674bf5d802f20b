// Package app wires order-service: the one place that builds its clients,
// adapters and handlers.
package app

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/ticketsaga/saga/infra/ops"
	"github.com/ticketsaga/saga/order-service/internal/buyers"
	"github.com/ticketsaga/saga/order-service/internal/httpapi"
	"github.com/ticketsaga/saga/order-service/internal/order"
	"github.com/ticketsaga/saga/order-service/internal/store"
	"github.com/ticketsaga/saga/shared/config"
	"github.com/ticketsaga/saga/shared/deadletter"
	"github.com/ticketsaga/saga/shared/event"
	"github.com/ticketsaga/saga/shared/gcp"
	"github.com/ticketsaga/saga/shared/outbox"
	"github.com/ticketsaga/saga/shared/push"
	"github.com/ticketsaga/saga/shared/serve"
)

// New wires order-service.
func New(ctx context.Context, cfg config.Config, log *slog.Logger) (*serve.App, error) {
	c, err := gcp.Connect(ctx, cfg)
	if err != nil {
		return nil, err
	}
	steps := &outbox.Steps{FS: c.Firestore, Collection: store.Orders, Service: event.OrderService, Publisher: c.Publisher, Log: log, Now: time.Now, Grace: cfg.OutboxGrace,
		AfterCommit: serve.CrashHook(cfg, log)}
	buyerAuth, err := buyers.New(ctx, cfg.FirebaseProject, cfg.FirebaseAuthEmulatorHost != "")
	if err != nil {
		c.Close()
		return nil, err
	}
	orders := store.New(c.Firestore, steps)
	orders.ListenAfter = cfg.ListenAfter
	api := &httpapi.API{Store: orders, Buyers: buyerAuth, Log: log,
		Push: push.Endpoint{Log: log, Failures: deadletter.Recorder{FS: c.Firestore, Now: time.Now}}, Now: time.Now, Timeout: cfg.OrderTimeout,
		Heal: order.HealPolicy(cfg.Heal), SweepBudget: cfg.SweepBudget, Outbox: steps,
		MaxLongPolls: cfg.MaxLongPolls,
		Draining:     ctx.Done()}
	reconciler := ops.NewReconciler(c.Firestore, c.Publisher, cfg)
	return &serve.App{
		API:    api.Routes(),
		Push:   map[string]http.Handler{push.Path: api.PushHandler()},
		Tasks:  map[string]http.Handler{"/tasks/sweep": api.SweepHandler(), "/tasks/reconcile": reconciler.Handler(log)},
		Health: serve.NewHealth(c.Ping),
		Close:  func() { steps.Wait(); c.Close() },
	}, nil
}
