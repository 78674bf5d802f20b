package serve

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"google.golang.org/api/idtoken"

	"github.com/ticketsaga/saga/shared/platform/config"
	"github.com/ticketsaga/saga/shared/platform/internal/logging"
	"github.com/ticketsaga/saga/shared/platform/internal/pushauth"
	"github.com/ticketsaga/saga/shared/platform/metrics"
	"github.com/ticketsaga/saga/shared/platform/telemetry"
)

// App is a wired service: its API, its push endpoints by path, and what to
// release on shutdown.
type App struct {
	API   http.Handler
	Push  map[string]http.Handler // push endpoints by path
	Tasks map[string]http.Handler // task endpoints (Cloud Scheduler) by path
	// Health answers GET /healthz: 200 only when the service can serve.
	Health *Health
	// OpenAPI serves the service's part of the API document.
	OpenAPI http.Handler
	Close   func()

	// AdminOnly: the API is the admin and read API of point- or
	// ticket-service, for AdminAuth's identities only.
	AdminOnly bool
	// PushAuth, TaskAuth and AdminAuth, when set, require OIDC tokens on
	// the push endpoints, the task endpoints (and /metrics and the
	// profiler), and an AdminOnly API.
	PushAuth, TaskAuth, AdminAuth *pushauth.Verifier
	// Pprof serves the profiler under /debug/pprof/.
	Pprof bool
}

// Handler routes the push and task endpoints (POST only) and everything
// else to the API, with the request's trace in its context.
func (a *App) Handler() http.Handler {
	mux := http.NewServeMux()
	for path, h := range a.Push {
		mux.Handle("POST "+path, a.PushAuth.Require(h))
	}
	for path, h := range a.Tasks {
		mux.Handle("POST "+path, a.TaskAuth.Require(h))
	}
	// /metrics and the profiler are for the operator's tools, behind the
	// scheduler's check: never open to the internet on the public
	// order-service.
	mux.Handle("GET /metrics", a.TaskAuth.Require(metrics.Handler()))
	mux.Handle("GET /healthz", a.Health)
	if a.OpenAPI != nil {
		mux.Handle("GET /openapi.json", a.OpenAPI)
	}
	if a.Pprof {
		mux.Handle("/debug/pprof/", a.TaskAuth.Require(http.HandlerFunc(pprof.Index)))
		mux.Handle("/debug/pprof/profile", a.TaskAuth.Require(http.HandlerFunc(pprof.Profile)))
		// The local stack's build adds its debug switch here; a
		// production build adds nothing (localstack.go, production.go).
		localRoutes(mux, a.TaskAuth)
	}
	mux.Handle("/", a.APIHandler())
	return logging.Middleware(telemetry.HTTP(mux, a.traced))
}

// traced: the requests with a span of their own. A push continues the
// trace of its message instead (shared/push), and health checks and
// scrapes would only bury the sagas.
func (a *App) traced(r *http.Request) bool {
	_, push := a.Push[r.URL.Path]
	return !push && r.URL.Path != "/healthz" && r.URL.Path != "/metrics"
}

// APIHandler is the API alone, behind the admin check when AdminOnly.
func (a *App) APIHandler() http.Handler {
	if a.AdminOnly {
		return a.AdminAuth.Require(a.API)
	}
	return a.API
}

// AdminHint is the end of a 401 on an admin API: how an operator gets a
// token this service accepts (a person's own gcloud token carries gcloud's
// audience, never the service's).
const AdminHint = "operators impersonate the operator service account: gcloud auth print-identity-token " +
	"--impersonate-service-account=OPERATOR_SA --audiences=SERVICE_URL --include-email (docs/security.md)"

// Secure sets the verifiers cfg asks for. opts say how Google's keys are
// fetched (a test serves its own).
func (a *App) Secure(ctx context.Context, cfg config.Common, log *slog.Logger, opts ...idtoken.ClientOption) error {
	var err error
	if cfg.PushServiceAccount != "" {
		if a.PushAuth, err = pushauth.New(ctx, cfg.AuthAudience, []string{cfg.PushServiceAccount}, log, opts...); err != nil {
			return err
		}
	}
	if cfg.TaskServiceAccount != "" {
		if a.TaskAuth, err = pushauth.New(ctx, cfg.AuthAudience, []string{cfg.TaskServiceAccount}, log, opts...); err != nil {
			return err
		}
	}
	if a.AdminOnly && len(cfg.AdminIdentities)+len(cfg.ReaderIdentities) > 0 {
		if a.AdminAuth, err = pushauth.New(ctx, cfg.AuthAudience, cfg.AdminIdentities, log, opts...); err != nil {
			return err
		}
		for _, r := range cfg.ReaderIdentities {
			a.AdminAuth.Readers[r] = true
		}
		a.AdminAuth.Hint = AdminHint
	}
	a.Pprof = cfg.Pprof
	return nil
}

// Config is a service's configuration: it has the common part.
type Config interface{ Base() config.Common }

// Options is what a test or a drill hands a service beside its
// configuration: test hooks, never set in production.
type Options struct {
	// AfterCommit, when set, runs between a step's commit and its
	// publish: how a test or the local stack's fault switch (localstack.go)
	// proves that a crash there loses nothing. A production build never
	// sets it.
	AfterCommit func(step string)
}

// envCrashAfterCommit is the local stack's fault switch: the probability
// that a service crashes right after a step's commit, before publishing.
// Only the local stack's build reads it; a production build refuses to
// start when it is set.
const envCrashAfterCommit = "FAULT_CRASH_AFTER_COMMIT"

// Build wires a service from its configuration.
type Build[C Config] func(ctx context.Context, cfg C, log *slog.Logger, opts Options) (*App, error)

// Load reads a service's configuration through getenv.
type Load[C Config] func(getenv func(string) string) (C, error)

// Main is a service's whole main: configuration from the environment, the
// logger, the wiring, and serving on $PORT until SIGTERM.
func Main[C Config](load Load[C], build Build[C]) {
	// Collect garbage less often: a service holds little live memory, and
	// GC was a visible share of the CPU per saga. The memory limit keeps
	// it safe on a 512 MiB Cloud Run instance. Both yield to GOGC and
	// GOMEMLIMIT when set.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(384 << 20)
	}
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
	if err := run(ctx, load, build, crash); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if crashed.Load() {
		os.Exit(3)
	}
}

func run[C Config](ctx context.Context, load Load[C], build Build[C], crash func()) error {
	cfg, err := load(os.Getenv)
	if err != nil {
		return err
	}
	base := cfg.Base()
	log := logging.New(os.Stdout, base.Service, base.ProjectID, base.LogLevel)
	opts, err := faults(os.Getenv, log, crash)
	if err != nil {
		return err
	}
	stopTracing, err := telemetry.Setup(ctx, Tracing(base))
	if err != nil {
		return err
	}
	// Deferred before the app's Close, so it runs after it: the spans of
	// the drain are flushed too.
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := stopTracing(sctx); err != nil {
			log.Warn("flush traces", "error", err.Error())
		}
	}()
	app, err := build(ctx, cfg, log, opts)
	if err != nil {
		return fmt.Errorf("%s: %w", base.Service, err)
	}
	defer app.Close()
	if err := app.Secure(ctx, base, log); err != nil {
		return err
	}
	return Run(ctx, log, ":"+base.Port, app.Handler())
}

// Lazy builds the app from the environment on first use: the entry point
// for functions-framework-go, whose registrations happen in init. A build
// that fails (Firestore unreachable as the instance starts) is tried again
// by the next request, instead of failing every request to come.
func Lazy[C Config](load Load[C], build Build[C]) func() (*App, error) {
	var (
		mu     sync.Mutex
		app    *App
		traced bool
	)
	return func() (*App, error) {
		mu.Lock()
		defer mu.Unlock()
		if app != nil {
			return app, nil
		}
		cfg, err := load(os.Getenv)
		if err != nil {
			return nil, err
		}
		base := cfg.Base()
		log := logging.New(os.Stdout, base.Service, base.ProjectID, base.LogLevel)
		// A function cannot exit: the fault switch's crash only aborts
		// the request, before the publish.
		opts, err := faults(os.Getenv, log, func() { panic(http.ErrAbortHandler) })
		if err != nil {
			return nil, fmt.Errorf("%s: %w", base.Service, err)
		}
		if !traced {
			// A function is never shut down cleanly: its last spans may be lost.
			if _, err := telemetry.Setup(context.Background(), Tracing(base)); err != nil {
				return nil, fmt.Errorf("%s: %w", base.Service, err)
			}
			traced = true
		}
		a, err := build(context.Background(), cfg, log, opts)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", base.Service, err)
		}
		if err := a.Secure(context.Background(), base, log); err != nil {
			a.Close()
			return nil, fmt.Errorf("%s: %w", base.Service, err)
		}
		app = a
		return app, nil
	}
}

// Tracing is the tracing configuration in a service's common settings.
func Tracing(c config.Common) telemetry.Config {
	return telemetry.Config{Service: c.Service, Project: c.ProjectID, Exporter: c.TraceExporter, SampleRatio: c.TraceSampleRatio,
		Endpoint: c.TraceEndpoint}
}

// Logger is the services' logger: JSON lines in Cloud Logging's shape,
// written to w, for service in project, at level and above (what Main
// logs to stdout; the end-to-end tests log the services in-process).
func Logger(w io.Writer, service, project string, level slog.Level) *slog.Logger {
	return logging.New(w, service, project, level)
}
