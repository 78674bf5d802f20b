package service

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/ticketsaga/saga/order-service/internal/order"
	"github.com/ticketsaga/saga/order-service/ops"
	"github.com/ticketsaga/saga/shared/platform/config"
	"github.com/ticketsaga/saga/shared/saga"
)

// Config is order-service's configuration.
type Config struct {
	config.Common
	// OrderTimeout: a pending order older than this is stopped and
	// compensated (ORDER_TIMEOUT, default 30s).
	OrderTimeout time.Duration
	// Heal is when the sweep replays an unfinished order, so that an
	// event lost anywhere in its saga is sent again: a pending order
	// REPLAY_AFTER (10s) after its creation, a stopping one HEAL_AFTER
	// (30s) after its stop, then backing off to HEAL_MAX_INTERVAL (2m);
	// a stopping order's replays end HEAL_GIVE_UP (24h) after its stop.
	Heal order.HealPolicy
	// SweepBudget is how long one timeout sweep may start new pages of
	// orders (SWEEP_BUDGET, default 60s, within Cloud Scheduler's 120 s
	// attempt deadline).
	SweepBudget time.Duration
	// ListenAfter is how long a long-poll on an order this instance has
	// just created relies on hearing the settle in process before it also
	// listens to the order document (LISTEN_AFTER, default 1s, 0s to 1m).
	ListenAfter time.Duration
	// MaxLongPolls bounds the long-polls one instance holds at once
	// (LONG_POLL_MAX, default 2000).
	MaxLongPolls int64
	// FirebaseProject is the Firebase / Identity Platform project whose
	// ID tokens authenticate buyers (FIREBASE_PROJECT, default the
	// project id). FirebaseAuthEmulatorHost is FIREBASE_AUTH_EMULATOR_HOST
	// (the Admin SDK reads it too): the Auth emulator's tokens are not
	// signed, so it must never be set outside the emulators.
	FirebaseProject          string
	FirebaseAuthEmulatorHost string
	// Pages is what the buyer's and the operator's pages need.
	Pages PagesConfig
}

// PagesConfig is the configuration of the pages and of the reads behind
// them.
type PagesConfig struct {
	// PointServiceURL and TicketServiceURL are where GET /me and GET
	// /catalog read balances, ticket types and holdings
	// (POINT_SERVICE_URL, TICKET_SERVICE_URL; both or neither).
	PointServiceURL, TicketServiceURL string
	// FirebaseAPIKey is the web API key the buyer's page signs in with
	// (FIREBASE_API_KEY; not needed against the Auth emulator).
	FirebaseAPIKey string
	// OpsAdminUIDs may open the operator page on Cloud Run
	// (OPS_ADMIN_UIDS, comma-separated Firebase uids; none: the page is
	// off). Against the emulators it is open.
	OpsAdminUIDs []string
	// DeadLetterSubscription and Subscriptions are the Pub/Sub
	// declaration's hold subscription and each subscription's event
	// types (DEAD_LETTER_SUBSCRIPTION, SAGA_SUBSCRIPTIONS), which the
	// tools pass from infra/pubsub.json.
	DeadLetterSubscription string
	Subscriptions          map[string][]saga.EventType
	// DemoEmail and DemoPassword prefill the sign-in form (DEMO_BUYER_EMAIL,
	// DEMO_BUYER_PASSWORD: make run's test buyer; the emulators only).
	DemoEmail, DemoPassword string
}

// LoadConfig reads the configuration through getenv and checks it: outside
// the emulators, push and task authentication are required and the Auth
// emulator is refused; against them (all three), buyers sign in to the
// Auth emulator.
func LoadConfig(getenv func(string) string) (Config, error) {
	c, err := LoadSettings(getenv)
	if err != nil {
		return Config{}, err
	}
	// RequireAuth refuses the Auth emulator unless every backend is an
	// emulator on this machine: its tokens are not signed, so anyone
	// could be any buyer.
	if err := c.RequireAuth(nil); err != nil {
		return Config{}, err
	}
	return c, nil
}

// EnvAuthEmulator is the Auth emulator's variable, which the Firebase
// Admin SDK reads too.
const EnvAuthEmulator = "FIREBASE_AUTH_EMULATOR_HOST"

// LoadSettings reads the configuration through getenv without the checks
// a running service makes: for the operator's tools, which need the
// service's settings (the reconciliation's windows), not its credentials.
func LoadSettings(getenv func(string) string) (Config, error) {
	common, err := config.Load(saga.OrderService, getenv, EnvAuthEmulator)
	if err != nil {
		return Config{}, err
	}
	c := Config{Common: common, OrderTimeout: 30 * time.Second, SweepBudget: time.Minute, ListenAfter: time.Second,
		Heal:                     order.HealPolicy{Pending: 10 * time.Second, First: 30 * time.Second, Max: 2 * time.Minute, GiveUp: 24 * time.Hour},
		FirebaseProject:          config.Or(getenv("FIREBASE_PROJECT"), common.ProjectID),
		FirebaseAuthEmulatorHost: getenv(EnvAuthEmulator)}
	if err := config.Durations(getenv, map[string]*time.Duration{"ORDER_TIMEOUT": &c.OrderTimeout, "SWEEP_BUDGET": &c.SweepBudget,
		"REPLAY_AFTER": &c.Heal.Pending, "HEAL_AFTER": &c.Heal.First, "HEAL_MAX_INTERVAL": &c.Heal.Max, "HEAL_GIVE_UP": &c.Heal.GiveUp}); err != nil {
		return Config{}, err
	}
	if c.Heal.Max < c.Heal.First || c.Heal.GiveUp < c.Heal.Max {
		return Config{}, fmt.Errorf("want HEAL_AFTER (%s) <= HEAL_MAX_INTERVAL (%s) <= HEAL_GIVE_UP (%s)", c.Heal.First, c.Heal.Max, c.Heal.GiveUp)
	}
	if v := getenv("LISTEN_AFTER"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 || d > time.Minute {
			return Config{}, fmt.Errorf("LISTEN_AFTER=%q: want a Go duration from 0s to 1m", v)
		}
		c.ListenAfter = d
	}
	if c.MaxLongPolls, err = config.Int(getenv, "LONG_POLL_MAX", 2000, 1, 100000); err != nil {
		return Config{}, err
	}
	if c.Pages, err = loadPages(getenv, c.Emulated); err != nil {
		return Config{}, err
	}
	return c, nil
}

func loadPages(getenv func(string) string, emulated bool) (PagesConfig, error) {
	p := PagesConfig{PointServiceURL: getenv("POINT_SERVICE_URL"), TicketServiceURL: getenv("TICKET_SERVICE_URL"),
		FirebaseAPIKey: getenv("FIREBASE_API_KEY"), DeadLetterSubscription: getenv("DEAD_LETTER_SUBSCRIPTION")}
	if (p.PointServiceURL == "") != (p.TicketServiceURL == "") {
		return PagesConfig{}, fmt.Errorf("set both POINT_SERVICE_URL and TICKET_SERVICE_URL, or neither")
	}
	for _, u := range []string{p.PointServiceURL, p.TicketServiceURL} {
		if v, err := url.Parse(u); u != "" && (err != nil || (v.Scheme != "http" && v.Scheme != "https") || v.Host == "") {
			return PagesConfig{}, fmt.Errorf("service URL %q: want http(s)://host", u)
		}
	}
	for _, id := range strings.Split(getenv("OPS_ADMIN_UIDS"), ",") {
		if id = strings.TrimSpace(id); id != "" {
			p.OpsAdminUIDs = append(p.OpsAdminUIDs, id)
		}
	}
	var err error
	if p.Subscriptions, err = ops.ParseConsumers(getenv("SAGA_SUBSCRIPTIONS")); err != nil {
		return PagesConfig{}, fmt.Errorf("SAGA_SUBSCRIPTIONS: %w", err)
	}
	if emulated {
		p.DemoEmail, p.DemoPassword = getenv("DEMO_BUYER_EMAIL"), getenv("DEMO_BUYER_PASSWORD")
	}
	return p, nil
}
