// Package kit is what every service is wired from: its Google Cloud
// clients, its outbox on its saga collection, and its push endpoint, which
// runs the service's steps as its step table says. A service's wiring (its
// package service) adds its store, its use cases and its API.
package kit

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/ticketsaga/saga/shared/deadletter"
	"github.com/ticketsaga/saga/shared/event"
	"github.com/ticketsaga/saga/shared/outbox"
	"github.com/ticketsaga/saga/shared/platform/config"
	"github.com/ticketsaga/saga/shared/platform/internal/apidoc"
	"github.com/ticketsaga/saga/shared/platform/internal/gcp"
	"github.com/ticketsaga/saga/shared/platform/metrics"
	"github.com/ticketsaga/saga/shared/platform/serve"
	"github.com/ticketsaga/saga/shared/push"
	"github.com/ticketsaga/saga/shared/saga"
)

// Kit is one service's shared parts.
type Kit struct {
	Clients *gcp.Clients
	Log     *slog.Logger
	// Outbox is the service's outbox on its saga collection.
	Outbox  *outbox.Steps
	push    push.Endpoint
	service string
	// stopMetrics turns the process's metrics off (the last service
	// wired in it flushes them).
	stopMetrics func()
}

// New connects the clients of cfg's service and sets up its outbox on the
// saga collection.
func New(ctx context.Context, cfg config.Common, log *slog.Logger, opts serve.Options, collection string) (*Kit, error) {
	stopMetrics, err := metrics.Start(ctx, metrics.Config{Exporter: cfg.MetricsExporter, Service: cfg.Service, ProjectID: cfg.ProjectID,
		OnCloud: cfg.OnCloud, Endpoint: cfg.MetricsEndpoint, Interval: cfg.MetricsInterval})
	if err != nil {
		return nil, err
	}
	c, err := gcp.Connect(ctx, cfg)
	if err != nil {
		stopMetrics()
		return nil, err
	}
	return &Kit{
		stopMetrics: stopMetrics,
		Clients:     c,
		Log:         log,
		Outbox: &outbox.Steps{FS: c.Firestore, Collection: collection, Service: cfg.Service, Publisher: c.Publisher,
			Now: time.Now, AfterCommit: opts.AfterCommit},
		push:    push.Endpoint{Log: log, Failures: deadletter.Recorder{FS: c.Firestore, Now: time.Now}},
		service: cfg.Service,
	}, nil
}

// Service is what a service adds to its kit.
type Service struct {
	API       http.Handler
	AdminOnly bool
	// Table and Steps: which event types run which step, and the steps.
	Table saga.Steps
	Steps map[string]event.Step
	Tasks map[string]http.Handler
	// Close releases what the service opened beside the kit.
	Close func()
}

// App assembles the service: its API, the push endpoint running its steps,
// its task endpoints, and /healthz.
func (k *Kit) App(s Service) (*serve.App, error) {
	routes, err := push.Routes(s.Table, metrics.TimeSteps(k.Outbox.Service, s.Steps), k.Log)
	if err != nil {
		return nil, err
	}
	doc, err := apidoc.Handler(context.Background(), k.service)
	if err != nil {
		return nil, err
	}
	return &serve.App{
		API:       s.API,
		AdminOnly: s.AdminOnly,
		Push:      map[string]http.Handler{push.Path: k.push.Handler(routes)},
		Tasks:     s.Tasks,
		Health:    serve.NewHealth(k.Clients.Ping, k.Log),
		OpenAPI:   doc,
		Close: func() {
			if s.Close != nil {
				s.Close()
			}
			k.Clients.Close()
			k.stopMetrics()
		},
	}, nil
}

// Participant assembles a service that takes part in orders: point- and
// ticket-service. Its API is private (admin identities only); it has no
// task of its own: order-service's sweep drives every recovery.
func (k *Kit) Participant(api http.Handler, table saga.Steps, steps map[string]event.Step) (*serve.App, error) {
	return k.App(Service{API: api, AdminOnly: true, Table: table, Steps: steps})
}

// Close releases the kit, for a service that failed to wire.
func (k *Kit) Close() {
	k.Clients.Close()
	k.stopMetrics()
}

// APIDocument is the OpenAPI document the services serve, whole: the HTTP
// contract, for the tests that hold the services' answers to it.
func APIDocument(ctx context.Context) (*openapi3.T, error) { return apidoc.Load(ctx) }
