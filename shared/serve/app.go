package serve

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/ticketsaga/saga/shared/config"
	"github.com/ticketsaga/saga/shared/logging"
)

// App is a wired service: its API, its push endpoints by path, and what to
// release on shutdown.
type App struct {
	API   http.Handler
	Push  map[string]http.Handler
	Close func()
}

// Handler routes the push endpoints (POST only) and everything else to the
// API, with the request's trace in its context.
func (a *App) Handler() http.Handler {
	mux := http.NewServeMux()
	for path, h := range a.Push {
		mux.Handle("POST "+path, h)
	}
	mux.Handle("/", a.API)
	return logging.Middleware(mux)
}

// Build wires a service from its configuration.
type Build func(ctx context.Context, cfg config.Config, log *slog.Logger) (*App, error)

// Main is a service's whole main: configuration from the environment, the
// logger, the wiring, and serving on $PORT until SIGTERM.
func Main(service string, build Build) {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	var crashed atomic.Bool
	// The fault switch's crash: the step that just committed is cut off
	// before its publish (its request is aborted, so Pub/Sub or the client
	// retries), and the process exits once the other requests have
	// drained. Killing them too would leave their Firestore transactions
	// open, and the emulator never releases an abandoned transaction's
	// locks.
	crash := func() {
		crashed.Store(true)
		stop()
		panic(http.ErrAbortHandler)
	}
	if err := run(ctx, service, build, crash); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", service, err)
		os.Exit(1)
	}
	if crashed.Load() {
		os.Exit(3)
	}
}

func run(ctx context.Context, service string, build Build, crash func()) error {
	cfg, err := config.Load(service, os.Getenv)
	if err != nil {
		return err
	}
	cfg.Crash = crash
	log := logging.New(os.Stdout, service, cfg.ProjectID, cfg.LogLevel)
	app, err := build(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer app.Close()
	return Run(ctx, log, ":"+cfg.Port, app.Handler())
}

// Lazy builds the app from the environment on first use: the entry point
// for functions-framework-go, whose registrations happen in init.
func Lazy(service string, build Build) func() *App {
	return sync.OnceValue(func() *App {
		cfg, err := config.Load(service, os.Getenv)
		if err != nil {
			panic(err)
		}
		log := logging.New(os.Stdout, service, cfg.ProjectID, cfg.LogLevel)
		app, err := build(context.Background(), cfg, log)
		if err != nil {
			panic(fmt.Sprintf("%s: %v", service, err))
		}
		return app
	})
}

// CrashHook returns the outbox's AfterCommit hook for cfg's fault switch,
// or nil when it is off.
func CrashHook(cfg config.Config, log *slog.Logger) func(step string) {
	if cfg.CrashAfterCommit <= 0 {
		return nil
	}
	crash := cfg.Crash
	if crash == nil {
		crash = func() { os.Exit(3) }
	}
	return func(step string) {
		if rand.Float64() < cfg.CrashAfterCommit {
			log.Warn("fault switch: crashing after commit, before publish", "step", step)
			crash()
		}
	}
}
