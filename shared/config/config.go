// Package config reads a service's configuration from the environment, once,
// in main. Nothing below main reads environment variables.
package config

import (
	"fmt"
	"log/slog"
	"strconv"
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
	// emulator, which sends no token).
	AuthAudience       string
	PushServiceAccount string
	TaskServiceAccount string
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
	}
	if (c.PushServiceAccount != "" || c.TaskServiceAccount != "") && c.AuthAudience == "" {
		return Config{}, fmt.Errorf("PUSH_SERVICE_ACCOUNT or TASK_SERVICE_ACCOUNT needs AUTH_AUDIENCE (the service's URL)")
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

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
