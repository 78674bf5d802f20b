// Package app wires ticket-service: the one place that builds its clients,
// adapters and handlers.
package app

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/ticketsaga/saga/shared/config"
	"github.com/ticketsaga/saga/shared/deadletter"
	"github.com/ticketsaga/saga/shared/event"
	"github.com/ticketsaga/saga/shared/gcp"
	"github.com/ticketsaga/saga/shared/outbox"
	"github.com/ticketsaga/saga/shared/push"
	"github.com/ticketsaga/saga/shared/serve"
	"github.com/ticketsaga/saga/ticket-service/internal/httpapi"
	"github.com/ticketsaga/saga/ticket-service/internal/store"
)

// New wires ticket-service.
func New(ctx context.Context, cfg config.Config, log *slog.Logger) (*serve.App, error) {
	c, err := gcp.Connect(ctx, cfg)
	if err != nil {
		return nil, err
	}
	steps := &outbox.Steps{FS: c.Firestore, Collection: store.Sagas, Service: event.TicketService, Publisher: c.Publisher, Log: log, Now: time.Now, Grace: cfg.OutboxGrace,
		AfterCommit: serve.CrashHook(cfg, log)}
	api := &httpapi.API{Store: store.New(c.Firestore, steps, cfg.StockShards, cfg.StockLeases), Log: log,
		Push: push.Endpoint{Log: log, Failures: deadletter.Recorder{FS: c.Firestore, Now: time.Now}}}
	return &serve.App{
		API:    api.Routes(),
		Push:   map[string]http.Handler{push.Path: api.PushHandler()},
		Tasks:  map[string]http.Handler{"/tasks/outbox": steps.SweepHandler([]string{store.StepGrant, store.StepCancel})},
		Health: serve.NewHealth(c.Ping),
		Close:  func() { steps.Wait(); c.Close() },
	}, nil
}
