// Package config reads a service's configuration from the environment, once,
// in main. Nothing below main reads environment variables.
package config

import (
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"
)

// DefaultProject is the project id used when GOOGLE_CLOUD_PROJECT is unset,
// which only makes sense against the emulators.
const DefaultProject = "demo-saga"

// Config is what every service needs.
type Config struct {
	Service      string
	Port         string
	ProjectID    string
	Topic        string
	OrderTimeout time.Duration
	// Heal is when order-service's sweep replays the stop of a stopping
	// order whose compensation stalled (HEAL_AFTER, HEAL_MAX_INTERVAL,
	// HEAL_GIVE_UP).
	Heal HealPolicy
	// SweepBudget is how long one timeout sweep may start new pages of
	// orders (SWEEP_BUDGET, default 60s, within Cloud Scheduler's 120 s
	// attempt deadline).
	SweepBudget time.Duration
	// OutboxGrace is how long a committed event may stay unpublished
	// before the outbox sweep publishes it.
	OutboxGrace time.Duration
	// ListenAfter is how long order-service's long-poll on an order it
	// has just created relies on hearing the settle in process before it
	// also listens to the order document (LISTEN_AFTER, default 1s; 0
	// listens at once). See order-service's store.Watch.
	ListenAfter time.Duration
	// MaxLongPolls bounds the long-polls one order-service instance holds
	// at once (LONG_POLL_MAX, default 2000).
	MaxLongPolls int64
	LogLevel     slog.Level
	// CrashAfterCommit is a test-only fault switch: the probability
	// (0-1) that the service exits right after a step's commit, before
	// publishing.
	CrashAfterCommit float64
	// AuthAudience, PushServiceAccount and TaskServiceAccount turn on
	// in-app OIDC verification of push and task requests (off for the
	// emulator, which sends no token). On Cloud Run they are required.
	AuthAudience       string
	PushServiceAccount string
	TaskServiceAccount string
	// AdminIdentities (ADMIN_IDENTITIES, comma-separated e-mails) may call
	// point- and ticket-service's admin and read API, with a Google-signed
	// ID token for AuthAudience. Required on Cloud Run for those two.
	AdminIdentities []string
	// FirebaseProject is the Firebase / Identity Platform project whose
	// ID tokens authenticate buyers (FIREBASE_PROJECT, default the
	// project id). FirebaseAuthEmulatorHost is FIREBASE_AUTH_EMULATOR_HOST
	// (the Admin SDK reads it too): against the Auth emulator, tokens are
	// not signed, so it must never be set on Cloud Run.
	FirebaseProject          string
	FirebaseAuthEmulatorHost string
	// OnCloud: the service runs on Cloud Run (K_SERVICE) or as a function
	// (FUNCTION_TARGET): every check must be configured.
	OnCloud bool
	// Emulated: the service runs against the local emulators
	// (FIRESTORE_EMULATOR_HOST), where push, task and admin requests are
	// open.
	Emulated bool
	// StockShards is how many documents ticket-service splits a ticket
	// type's stock over (STOCK_SHARDS, default 16; 1 is the single-document
	// design).
	StockShards int
	// StockLeases (default on) keeps one instance's concurrent grants on
	// different shards; STOCK_LEASES=0 gives the naive design, for the
	// flash-sale comparison.
	StockLeases bool
	// Pprof serves /debug/pprof/ (PPROF=1), for profiling locally.
	Pprof bool
	// FirestoreEmulatorHost is FIRESTORE_EMULATOR_HOST (the client
	// library reads it too; the metrics need their own connection).
	FirestoreEmulatorHost string
	// Crash is how the fault switch crashes; nil exits the process.
	// In-process tests abort the request instead.
	Crash func()
}

// HealPolicy is order.HealPolicy as configured; config does not import
// the services' domains.
type HealPolicy struct {
	First, Max, GiveUp time.Duration
}

// Load reads the configuration of service through getenv (os.Getenv).
func Load(service string, getenv func(string) string) (Config, error) {
	c := Config{
		Service:      service,
		Port:         or(getenv("PORT"), "8080"),
		ProjectID:    or(getenv("GOOGLE_CLOUD_PROJECT"), DefaultProject),
		Topic:        or(getenv("PUBSUB_TOPIC"), "saga-events"),
		OrderTimeout: 30 * time.Second,
		Heal:         HealPolicy{First: 30 * time.Second, Max: 2 * time.Minute, GiveUp: 24 * time.Hour},
		SweepBudget:  time.Minute,
		OutboxGrace:  2 * time.Second,
		ListenAfter:  time.Second,

		AuthAudience:       getenv("AUTH_AUDIENCE"),
		PushServiceAccount: getenv("PUSH_SERVICE_ACCOUNT"),
		TaskServiceAccount: getenv("TASK_SERVICE_ACCOUNT"),

		FirestoreEmulatorHost: getenv("FIRESTORE_EMULATOR_HOST"),

		FirebaseAuthEmulatorHost: getenv("FIREBASE_AUTH_EMULATOR_HOST"),
		OnCloud:                  getenv("K_SERVICE") != "" || getenv("FUNCTION_TARGET") != "",
	}
	c.Emulated = c.FirestoreEmulatorHost != "" && !c.OnCloud
	c.FirebaseProject = or(getenv("FIREBASE_PROJECT"), c.ProjectID)
	for _, id := range strings.Split(getenv("ADMIN_IDENTITIES"), ",") {
		if id = strings.TrimSpace(id); id != "" {
			c.AdminIdentities = append(c.AdminIdentities, id)
		}
	}
	if (c.PushServiceAccount != "" || c.TaskServiceAccount != "" || len(c.AdminIdentities) > 0) && c.AuthAudience == "" {
		return Config{}, fmt.Errorf("%s refuses to start: PUSH_SERVICE_ACCOUNT, TASK_SERVICE_ACCOUNT or ADMIN_IDENTITIES is set without the audience of its tokens: set AUTH_AUDIENCE (the service's URL)", service)
	}
	if err := c.checkAuth(); err != nil {
		return Config{}, err
	}
	for name, dst := range map[string]*time.Duration{"ORDER_TIMEOUT": &c.OrderTimeout, "OUTBOX_GRACE": &c.OutboxGrace,
		"HEAL_AFTER": &c.Heal.First, "HEAL_MAX_INTERVAL": &c.Heal.Max, "HEAL_GIVE_UP": &c.Heal.GiveUp, "SWEEP_BUDGET": &c.SweepBudget} {
		if v := getenv(name); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				return Config{}, fmt.Errorf("%s=%q: want a positive Go duration", name, v)
			}
			*dst = d
		}
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
	c.MaxLongPolls = 2000
	if v := getenv("LONG_POLL_MAX"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 || n > 100000 {
			return Config{}, fmt.Errorf("LONG_POLL_MAX=%q: want 1 to 100000", v)
		}
		c.MaxLongPolls = n
	}
	c.StockLeases = getenv("STOCK_LEASES") != "0"
	c.Pprof = getenv("PPROF") == "1"
	c.StockShards = 16
	if v := getenv("STOCK_SHARDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			return Config{}, fmt.Errorf("STOCK_SHARDS=%q: want 1 to 100", v)
		}
		c.StockShards = n
	}
	if v := getenv("FAULT_CRASH_AFTER_COMMIT"); v != "" {
		p, err := strconv.ParseFloat(v, 64)
		if err != nil || p < 0 || p > 1 {
			return Config{}, fmt.Errorf("FAULT_CRASH_AFTER_COMMIT=%q: want a probability from 0 to 1", v)
		}
		c.CrashAfterCommit = p
	}
	if v := getenv("LOG_LEVEL"); v != "" {
		if err := c.LogLevel.UnmarshalText([]byte(v)); err != nil {
			return Config{}, fmt.Errorf("LOG_LEVEL=%q: %w", v, err)
		}
	}
	return c, nil
}

// Services whose authentication Load checks.
var services = map[string]bool{"order-service": true, "point-service": true, "ticket-service": true}

// checkAuth fails closed: a service that is not running against the local
// emulators (on Cloud Run, as a function, or anywhere else) refuses to
// start unless every request it serves is authenticated; it says which
// variable is missing.
func (c Config) checkAuth() error {
	if !services[c.Service] {
		return nil // the tools: sagactl, devstack, the bench
	}
	where := "outside the local emulators"
	if c.OnCloud {
		where = "on Cloud Run"
	}
	var missing []string
	if !c.Emulated {
		for name, v := range map[string]string{"AUTH_AUDIENCE": c.AuthAudience, "PUSH_SERVICE_ACCOUNT": c.PushServiceAccount, "TASK_SERVICE_ACCOUNT": c.TaskServiceAccount} {
			if v == "" {
				missing = append(missing, name)
			}
		}
		if c.Service != "order-service" && len(c.AdminIdentities) == 0 {
			missing = append(missing, "ADMIN_IDENTITIES")
		}
		if c.Service == "order-service" && c.FirebaseAuthEmulatorHost != "" {
			return fmt.Errorf("%s refuses to start %s with FIREBASE_AUTH_EMULATOR_HOST set: the Auth emulator's tokens are not signed, so anyone could be any buyer", c.Service, where)
		}
	}
	if c.Service == "order-service" && c.Emulated && c.FirebaseAuthEmulatorHost == "" {
		missing = append(missing, "FIREBASE_AUTH_EMULATOR_HOST (buyers sign in to the Auth emulator locally; make run and make test start it)")
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return fmt.Errorf("%s refuses to start %s: authentication is not configured: set %s", c.Service, where, strings.Join(missing, ", "))
	}
	return nil
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
