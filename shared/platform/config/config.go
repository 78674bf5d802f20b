// Package config reads what every service's configuration has in common
// from the environment, once, in main; each service's own configuration
// (its package service) embeds Common and adds its settings. Nothing below
// main reads environment variables.
package config

import (
	"fmt"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ticketsaga/saga/shared/platform/metrics"
	"github.com/ticketsaga/saga/shared/platform/telemetry"
)

// DefaultProject is the project id used when GOOGLE_CLOUD_PROJECT is unset,
// which only makes sense against the emulators.
const DefaultProject = "demo-saga"

// Common is what every service needs.
type Common struct {
	Service   string
	Port      string // PORT, default 8080
	ProjectID string // GOOGLE_CLOUD_PROJECT
	Topic     string // PUBSUB_TOPIC, default saga-events
	LogLevel  slog.Level
	// AuthAudience, PushServiceAccount and TaskServiceAccount turn on
	// in-app OIDC verification of push and task requests (off for the
	// emulator, which sends no token). Outside the emulators they are
	// required.
	AuthAudience       string
	PushServiceAccount string
	TaskServiceAccount string
	// AdminIdentities (ADMIN_IDENTITIES, comma-separated e-mails) may call
	// every method of an admin API, with a Google-signed ID token for
	// AuthAudience; ReaderIdentities (READER_IDENTITIES) only its reads
	// (GET): order-service reads balances and tickets for its pages, and
	// never writes them.
	AdminIdentities  []string
	ReaderIdentities []string
	// FirestoreEmulatorHost is FIRESTORE_EMULATOR_HOST (the client
	// library reads it too; the metrics need their own connection).
	FirestoreEmulatorHost string
	// Emulators are the emulator variables of the backends the service
	// uses (FIRESTORE_EMULATOR_HOST, PUBSUB_EMULATOR_HOST, and what
	// Load's caller adds), as set.
	Emulators map[string]string
	// OnCloud: the service runs on Cloud Run (K_SERVICE) or as a function
	// (FUNCTION_TARGET): every check must be configured.
	OnCloud bool
	// Emulated: the service runs against the local emulators, where push,
	// task and admin requests are open: every backend it uses is an
	// emulator on this machine, and it is not on Cloud Run or a function.
	// A mix is refused (CheckMode).
	Emulated bool
	// Pprof serves /debug/pprof/ (PPROF=1), behind the task endpoints'
	// check.
	Pprof bool
	// TraceExporter (TRACE_EXPORTER: stdout, file:<path> or otlp; unset,
	// tracing is off) and TraceSampleRatio (TRACE_SAMPLE_RATIO, 0 to 1,
	// default 1: the share of sagas traced).
	TraceExporter    string
	TraceSampleRatio float64
	// TraceEndpoint (TRACE_ENDPOINT) is where "otlp" sends spans: Google
	// Cloud's Telemetry API when unset, or a collector's URL.
	TraceEndpoint string
	// MetricsExporter is where the metrics go (METRICS_EXPORTER):
	// "prometheus" (default: GET /metrics), "otlp" (to MetricsEndpoint,
	// default Google Cloud's Telemetry API, every MetricsInterval, default
	// 60s) or "none".
	MetricsExporter string
	MetricsEndpoint string
	MetricsInterval time.Duration
}

// Base returns c: a service's configuration that embeds Common is a
// serve.Config.
func (c Common) Base() Common { return c }

// EmulatorVars are the emulator variables every service reads: its
// Firestore and Pub/Sub clients follow them.
var EmulatorVars = []string{"FIRESTORE_EMULATOR_HOST", "PUBSUB_EMULATOR_HOST"}

// Load reads the common configuration of service through getenv
// (os.Getenv). emulators are the variables of the other emulators the
// service uses beside EmulatorVars (order-service: the Auth emulator's).
func Load(service string, getenv func(string) string, emulators ...string) (Common, error) {
	c := Common{
		Service:            service,
		Port:               Or(getenv("PORT"), "8080"),
		ProjectID:          Or(getenv("GOOGLE_CLOUD_PROJECT"), DefaultProject),
		Topic:              Or(getenv("PUBSUB_TOPIC"), "saga-events"),
		AuthAudience:       getenv("AUTH_AUDIENCE"),
		PushServiceAccount: getenv("PUSH_SERVICE_ACCOUNT"),
		TaskServiceAccount: getenv("TASK_SERVICE_ACCOUNT"),

		FirestoreEmulatorHost: getenv("FIRESTORE_EMULATOR_HOST"),
		OnCloud:               getenv("K_SERVICE") != "" || getenv("FUNCTION_TARGET") != "",
		Pprof:                 getenv("PPROF") == "1",
		TraceExporter:         getenv("TRACE_EXPORTER"),
		TraceSampleRatio:      1,
		TraceEndpoint:         getenv("TRACE_ENDPOINT"),
		MetricsExporter:       Or(getenv("METRICS_EXPORTER"), metrics.Prometheus),
		MetricsEndpoint:       getenv("METRICS_ENDPOINT"),
		MetricsInterval:       time.Minute,
	}
	if !slices.Contains(metrics.Exporters, c.MetricsExporter) {
		return Common{}, fmt.Errorf("METRICS_EXPORTER=%q: want one of %s", c.MetricsExporter, strings.Join(metrics.Exporters, ", "))
	}
	c.Emulators = map[string]string{}
	for _, name := range append(slices.Clone(EmulatorVars), emulators...) {
		c.Emulators[name] = getenv(name)
	}
	c.Emulated = !c.OnCloud && c.CheckMode() == nil && c.Emulators[EmulatorVars[0]] != ""
	c.AdminIdentities = List(getenv("ADMIN_IDENTITIES"))
	c.ReaderIdentities = List(getenv("READER_IDENTITIES"))
	if (c.PushServiceAccount != "" || c.TaskServiceAccount != "" || len(c.AdminIdentities) > 0 || len(c.ReaderIdentities) > 0) && c.AuthAudience == "" {
		return Common{}, fmt.Errorf("%s refuses to start: PUSH_SERVICE_ACCOUNT, TASK_SERVICE_ACCOUNT, ADMIN_IDENTITIES or READER_IDENTITIES is set without the audience of its tokens: set AUTH_AUDIENCE (the service's URL)", service)
	}
	if err := Durations(getenv, map[string]*time.Duration{"METRICS_INTERVAL": &c.MetricsInterval}); err != nil {
		return Common{}, err
	}
	if err := traceSettings(&c, getenv); err != nil {
		return Common{}, err
	}
	if v := getenv("LOG_LEVEL"); v != "" {
		if err := c.LogLevel.UnmarshalText([]byte(v)); err != nil {
			return Common{}, fmt.Errorf("LOG_LEVEL=%q: %w", v, err)
		}
	}
	return c, nil
}

// CheckMode says why the service's backends are neither all local
// emulators nor all Google Cloud: the local mode opens every door, so it
// is only for a service whose every backend is an emulator on this
// machine, off Cloud Run. A mix (Firestore emulated and Pub/Sub real, an
// emulator elsewhere, an emulator on Cloud Run) is refused, named.
func (c Common) CheckMode() error {
	var set, unset, remote []string
	for _, name := range slices.Sorted(maps.Keys(c.Emulators)) {
		switch host := c.Emulators[name]; {
		case host == "":
			unset = append(unset, name)
		case !loopback(host):
			remote = append(remote, fmt.Sprintf("%s=%s", name, host))
			set = append(set, name)
		default:
			set = append(set, name)
		}
	}
	switch {
	case len(set) == 0:
		return nil
	case c.OnCloud:
		return fmt.Errorf("%s refuses to start on Cloud Run with %s set: emulators are for the local stack, and against them the service opens its doors",
			c.Service, strings.Join(set, ", "))
	case len(unset) > 0:
		return fmt.Errorf("%s refuses to start: %s set but %s not: against the local emulators every backend must be one (set %s too); against Google Cloud none (unset %s)",
			c.Service, strings.Join(set, ", "), strings.Join(unset, ", "), strings.Join(unset, ", "), strings.Join(set, ", "))
	case len(remote) > 0:
		return fmt.Errorf("%s refuses to start: %s is not on this machine (127.0.0.1, localhost or ::1): the emulators' open doors are for a local stack only",
			c.Service, strings.Join(remote, ", "))
	}
	return nil
}

// loopback: host:port names this machine.
func loopback(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// RequireAuth fails closed: a service that is not running against the
// local emulators (on Cloud Run, as a function, or anywhere else) refuses
// to start unless every request it serves is authenticated, and says which
// variable is missing; a mix of emulators and Google Cloud refuses too
// (CheckMode). more are the service's own required settings, by name:
// empty means missing.
func (c Common) RequireAuth(more map[string]string) error {
	if err := c.CheckMode(); err != nil {
		return err
	}
	if c.Emulated {
		return nil
	}
	where := "outside the local emulators"
	if c.OnCloud {
		where = "on Cloud Run"
	}
	var missing []string
	vars := map[string]string{"AUTH_AUDIENCE": c.AuthAudience, "PUSH_SERVICE_ACCOUNT": c.PushServiceAccount, "TASK_SERVICE_ACCOUNT": c.TaskServiceAccount}
	for name, v := range more {
		vars[name] = v
	}
	for name, v := range vars {
		if v == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return fmt.Errorf("%s refuses to start %s: authentication is not configured: set %s", c.Service, where, strings.Join(missing, ", "))
	}
	return nil
}

// LoadPrivate reads the common configuration of a service whose API is
// private (point- and ticket-service): outside the emulators it requires
// ADMIN_IDENTITIES too.
func LoadPrivate(service string, getenv func(string) string) (Common, error) {
	c, err := Load(service, getenv)
	if err != nil {
		return Common{}, err
	}
	return c, c.RequireAuth(map[string]string{"ADMIN_IDENTITIES": strings.Join(c.AdminIdentities, ",")})
}

// List is a comma-separated list, trimmed, without empty items.
func List(v string) []string {
	var out []string
	for _, item := range strings.Split(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// Durations sets each named duration that getenv gives (a positive Go
// duration).
func Durations(getenv func(string) string, dst map[string]*time.Duration) error {
	for name, d := range dst {
		if v := getenv(name); v != "" {
			p, err := time.ParseDuration(v)
			if err != nil || p <= 0 {
				return fmt.Errorf("%s=%q: want a positive Go duration", name, v)
			}
			*d = p
		}
	}
	return nil
}

// Int returns the integer getenv gives for name, def when unset, or an
// error when it is not in [lo, hi].
func Int(getenv func(string) string, name string, def, lo, hi int64) (int64, error) {
	v := getenv(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("%s=%q: want %d to %d", name, v, lo, hi)
	}
	return n, nil
}

// Or returns v, or def when v is empty.
func Or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// traceSettings checks TRACE_EXPORTER and reads TRACE_SAMPLE_RATIO.
func traceSettings(c *Common, getenv func(string) string) error {
	if err := telemetry.CheckExporter(c.TraceExporter); err != nil {
		return err
	}
	if v := getenv("TRACE_SAMPLE_RATIO"); v != "" {
		r, err := strconv.ParseFloat(v, 64)
		if err != nil || r < 0 || r > 1 {
			return fmt.Errorf("TRACE_SAMPLE_RATIO=%q: want a number from 0 to 1", v)
		}
		c.TraceSampleRatio = r
	}
	return nil
}
