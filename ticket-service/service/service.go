// Package service wires ticket-service: its configuration, read once in
// main, and the one place that builds its store, use cases and API.
package service

import (
	"context"
	"log/slog"

	"github.com/ticketsaga/saga/shared/platform/config"
	"github.com/ticketsaga/saga/shared/platform/kit"
	"github.com/ticketsaga/saga/shared/platform/serve"
	"github.com/ticketsaga/saga/shared/saga"
	"github.com/ticketsaga/saga/ticket-service/internal/app"
	"github.com/ticketsaga/saga/ticket-service/internal/httpapi"
	"github.com/ticketsaga/saga/ticket-service/records"
)

// Config is ticket-service's configuration.
type Config struct {
	config.Common
	// StockShards is how many documents a ticket type's stock is split
	// over when its PUT does not say (STOCK_SHARDS, default 16, at most
	// records.MaxShards; 1 is the single-document design).
	StockShards int
	// StockLeases keeps one instance's concurrent grants on different
	// shards. Always on, but in the local stack's build, where
	// STOCK_LEASES=0 gives the naive design for make bench's flash-sale
	// comparison (localstack.go); a production build refuses STOCK_LEASES
	// (production.go).
	StockLeases bool
}

// envStockLeases turns the shard leases off (0) in the local stack's build
// only.
const envStockLeases = "STOCK_LEASES"

// LoadConfig reads the configuration through getenv and checks it: outside
// the emulators, push, task and admin authentication are required.
func LoadConfig(getenv func(string) string) (Config, error) {
	c, err := config.LoadPrivate(saga.TicketService, getenv)
	if err != nil {
		return Config{}, err
	}
	shards, err := config.Int(getenv, "STOCK_SHARDS", 16, 1, records.MaxShards)
	if err != nil {
		return Config{}, err
	}
	leases, err := stockLeases(getenv)
	if err != nil {
		return Config{}, err
	}
	return Config{Common: c, StockShards: int(shards), StockLeases: leases}, nil
}

// Table is ticket-service's step table (which events it handles).
var Table = app.Table

// New wires ticket-service.
func New(ctx context.Context, cfg Config, log *slog.Logger, opts serve.Options) (*serve.App, error) {
	k, err := kit.New(ctx, cfg.Common, log, opts, records.Sagas)
	if err != nil {
		return nil, err
	}
	store := newStore(k.Clients.Firestore, k.Outbox, cfg)
	a := &app.App{Store: store, Catalogue: store, Log: log}
	return k.Participant(httpapi.Routes(a), app.Table, a.Steps())
}
