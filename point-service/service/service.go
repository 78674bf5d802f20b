// Package service wires point-service: its configuration, read once in
// main, and the one place that builds its store, use cases and API.
package service

import (
	"context"
	"log/slog"

	"github.com/ticketsaga/saga/point-service/internal/app"
	"github.com/ticketsaga/saga/point-service/internal/firestore"
	"github.com/ticketsaga/saga/point-service/internal/httpapi"
	"github.com/ticketsaga/saga/point-service/records"
	"github.com/ticketsaga/saga/shared/platform/config"
	"github.com/ticketsaga/saga/shared/platform/kit"
	"github.com/ticketsaga/saga/shared/platform/serve"
	"github.com/ticketsaga/saga/shared/saga"
)

// Config is point-service's configuration: only what every service has.
type Config struct {
	config.Common
}

// LoadConfig reads the configuration through getenv and checks it: outside
// the emulators, push, task and admin authentication are required.
func LoadConfig(getenv func(string) string) (Config, error) {
	c, err := config.LoadPrivate(saga.PointService, getenv)
	if err != nil {
		return Config{}, err
	}
	return Config{Common: c}, nil
}

// Table is point-service's step table (which events it handles).
var Table = app.Table

// New wires point-service.
func New(ctx context.Context, cfg Config, log *slog.Logger, opts serve.Options) (*serve.App, error) {
	k, err := kit.New(ctx, cfg.Common, log, opts, records.Sagas)
	if err != nil {
		return nil, err
	}
	a := &app.App{Store: firestore.New(k.Clients.Firestore, k.Outbox), Log: log}
	return k.Participant(httpapi.Routes(a), app.Table, a.Steps())
}
