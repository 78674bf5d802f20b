// Package config reads a service's configuration from the environment, once,
// in main. Nothing below main reads environment variables.
package config

import (
	"fmt"
	"log/slog"
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
	LogLevel     slog.Level
}

// Load reads the configuration of service through getenv (os.Getenv).
func Load(service string, getenv func(string) string) (Config, error) {
	c := Config{
		Service:      service,
		Port:         or(getenv("PORT"), "8080"),
		ProjectID:    or(getenv("GOOGLE_CLOUD_PROJECT"), DefaultProject),
		Topic:        or(getenv("PUBSUB_TOPIC"), "saga-events"),
		OrderTimeout: 30 * time.Second,
	}
	if v := getenv("ORDER_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return Config{}, fmt.Errorf("ORDER_TIMEOUT=%q: want a positive Go duration", v)
		}
		c.OrderTimeout = d
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
