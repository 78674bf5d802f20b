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
	"github.com/ticketsaga/saga/order-service/internal/opsapi"
	"github.com/ticketsaga/saga/order-service/internal/ordermetrics"
	"github.com/ticketsaga/saga/order-service/internal/pages"
	"github.com/ticketsaga/saga/order-service/internal/peers"
	"github.com/ticketsaga/saga/order-service/ops"
	"github.com/ticketsaga/saga/order-service/reconcile"
	"github.com/ticketsaga/saga/order-service/records"
	"github.com/ticketsaga/saga/shared/platform/kit"
	"github.com/ticketsaga/saga/shared/platform/serve"
	"github.com/ticketsaga/saga/shared/platform/telemetry"
	"github.com/ticketsaga/saga/shared/saga"
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
	ordermetrics.LongPollLimit.Store(cfg.MaxLongPolls)
	a := &app.App{Store: timedStore{store}, Log: log, Now: time.Now, Observe: observer{},
		Polls:  &longpoll.Poller{Listen: store.Listen, Get: store.Get, ListenAfter: cfg.ListenAfter, Span: waitSpan},
		Config: app.Config{Timeout: cfg.OrderTimeout, Heal: cfg.Heal, SweepBudget: cfg.SweepBudget}}
	if p := cfg.Pages; p.PointServiceURL != "" {
		// On Cloud Run the other services are private: calls carry
		// order-service's Google-signed ID token.
		if a.Shop, err = peers.New(ctx, p.PointServiceURL, p.TicketServiceURL, !cfg.Emulated); err != nil {
			k.Close()
			return nil, err
		}
	}
	api := &httpapi.API{App: a, Buyers: buyerAuth, Log: log, MaxLongPolls: cfg.MaxLongPolls, Draining: ctx.Done()}
	reconciler := reconcile.New(k.Clients.Firestore, k.Clients.Publisher, cfg.OrderTimeout, cfg.Heal.Max)
	return k.App(kit.Service{
		API:   withPages(cfg, api.Routes(), opsAPI(cfg, k, buyerAuth, log)),
		Table: app.Table,
		Steps: a.Steps(),
		Tasks: map[string]http.Handler{saga.TaskSweep: api.SweepHandler(), saga.TaskReconcile: reconciler.Handler(log)},
	})
}

// withPages serves the buyer's page at /, the operator page at /ops with
// its API, and the public API everywhere else.
func withPages(cfg Config, api, ops http.Handler) http.Handler {
	authURL, tokenURL := "https://identitytoolkit.googleapis.com/v1", "https://securetoken.googleapis.com/v1"
	apiKey := cfg.Pages.FirebaseAPIKey
	if h := cfg.FirebaseAuthEmulatorHost; h != "" {
		authURL, tokenURL, apiKey = "http://"+h+"/identitytoolkit.googleapis.com/v1", "http://"+h+"/securetoken.googleapis.com/v1", "emulator"
	}
	page := pages.Handler(pages.Config{AuthURL: authURL, TokenURL: tokenURL, APIKey: apiKey, OpsOpen: cfg.Emulated,
		DemoEmail: cfg.Pages.DemoEmail, DemoPassword: cfg.Pages.DemoPassword})
	mux := http.NewServeMux()
	for _, p := range []string{"GET /{$}", "GET /ops", "GET /assets/{file}", "GET /pages/config.json"} {
		mux.Handle(p, page)
	}
	mux.Handle(opsapi.Prefix, ops)
	mux.Handle("/", api)
	return mux
}

func opsAPI(cfg Config, k *kit.Kit, buyerAuth *buyers.Verifier, log *slog.Logger) http.Handler {
	a := &opsapi.API{FS: k.Clients.Firestore, Log: log, Now: time.Now,
		DeadLetters: ops.DeadLetters{PubSub: k.Clients.PubSub, FS: k.Clients.Firestore, Project: cfg.ProjectID,
			Routing: ops.Routing{Topic: cfg.Topic, Hold: cfg.Pages.DeadLetterSubscription, Consumers: cfg.Pages.Subscriptions}},
		Operators: buyers.Operators{Open: cfg.Emulated, Buyers: buyerAuth, UIDs: cfg.Pages.OpsAdminUIDs}}
	return a.Routes()
}
