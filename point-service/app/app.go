// Package app wires point-service: the one place that builds its clients,
// adapters and handlers.
package app

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/ticketsaga/saga/point-service/internal/httpapi"
	"github.com/ticketsaga/saga/point-service/internal/store"
	"github.com/ticketsaga/saga/shared/config"
	"github.com/ticketsaga/saga/shared/deadletter"
	"github.com/ticketsaga/saga/shared/event"
	"github.com/ticketsaga/saga/shared/gcp"
	"github.com/ticketsaga/saga/shared/outbox"
	"github.com/ticketsaga/saga/shared/push"
	"github.com/ticketsaga/saga/shared/serve"
)

// New wires point-service.
func New(ctx context.Context, cfg config.Config, log *slog.Logger) (*serve.App, error) {
	c, err := gcp.Connect(ctx, cfg)
	if err != nil {
		return nil, err
	}
	steps := &outbox.Steps{FS: c.Firestore, Collection: store.Sagas, Service: event.PointService, Publisher: c.Publisher, Log: log, Now: time.Now, Grace: cfg.OutboxGrace,
		AfterCommit: serve.CrashHook(cfg, log)}
	api := &httpapi.API{Store: store.New(c.Firestore, steps), Log: log,
		Push: push.Endpoint{Log: log, Failures: deadletter.Recorder{FS: c.Firestore, Now: time.Now}}}
	return &serve.App{
		API:    api.Routes(),
		Push:   map[string]http.Handler{push.Path: api.PushHandler()},
		Tasks:  map[string]http.Handler{"/tasks/outbox": steps.SweepHandler([]string{store.StepConsume, store.StepRefund})},
		Health: serve.NewHealth(c.Ping),
		Close:  func() { steps.Wait(); c.Close() },
	}, nil
}
