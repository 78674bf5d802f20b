// Package e2e runs the three services with real push deliveries from the
// Pub/Sub emulator and real Firestore transactions on the Firestore
// emulator, and checks the contract through HTTP only.
package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	stdlog "log"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/firestore"
	"cloud.google.com/go/pubsub/v2"

	"github.com/ticketsaga/saga/infra"
	orderservice "github.com/ticketsaga/saga/order-service/service"
	pointservice "github.com/ticketsaga/saga/point-service/service"
	"github.com/ticketsaga/saga/shared/platform/serve"
	"github.com/ticketsaga/saga/shared/push"
	"github.com/ticketsaga/saga/shared/saga"
	ticketservice "github.com/ticketsaga/saga/ticket-service/service"
	"github.com/ticketsaga/saga/tools/authemu"
	"github.com/ticketsaga/saga/tools/bootstrap"
	"github.com/ticketsaga/saga/tools/emulator"
	"github.com/ticketsaga/saga/tools/pushfilter"
)

// Stack is a running saga the tests talk to: the three services in this
// process, on local ports, fed by real pushes from the emulator, in a
// Firestore and Pub/Sub project of its own.
type Stack struct {
	project              string
	decl                 infra.PubSub
	order, point, ticket string // base URLs
	pubsub               *pubsub.Client
	fs                   *firestore.Client
	// buyers signs test buyers in to the Auth emulator.
	buyers     *authemu.Client
	deliveries *deliveryLog
	close      func()
	// getenv is the services' environment; log a service's logger; opts
	// the services' test hooks.
	getenv func(string) string
	opts   serve.Options
	log    func(service string) *slog.Logger
}

// stack is the shared stack with the default 30s ORDER_TIMEOUT.
var stack *Stack

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		fmt.Println("e2e: not run in -short mode (unit tests only)")
		os.Exit(0)
	}
	if err := emulator.Require(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	var err error
	if contract, err = newAPIContract(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	http.DefaultClient.Transport = contract.over(http.DefaultTransport)
	if stack, err = newStack(stackOptions{timeout: 30 * time.Second}); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: start the stack:", err)
		os.Exit(1)
	}
	code := m.Run()
	fmt.Printf("e2e: %d exchanges with the services checked against the OpenAPI document\n", contract.checked.Load())
	if broken := contract.violations(); len(broken) > 0 {
		fmt.Fprintf(os.Stderr, "e2e: %d exchanges broke the API document:\n  %s\n", len(broken), strings.Join(broken, "\n  "))
		code = 1
	}
	if sum := drillSummary(); sum != "" {
		fmt.Print("fault drills:\n" + sum)
	}
	stack.close()
	os.Exit(code)
}

type stackOptions struct {
	timeout time.Duration
	// crash is the probability that a service "crashes" right after a
	// commit, before publishing: the request is aborted mid-way.
	crash float64
	// env is more configuration, as the environment would give it.
	env map[string]string
}

// crashAfterCommit is the tests' fault switch, handed to the services as
// their AfterCommit hook: after a fraction p of the commits it "crashes"
// by aborting the request mid-way, between the commit and the publish (the
// services run in this process, which must go on). nil when p is 0.
func crashAfterCommit(p float64, log *slog.Logger) func(step string) {
	if p <= 0 {
		return nil
	}
	return func(step string) {
		if mrand.Float64() < p {
			log.Warn("fault switch: crashing after commit, before publish", "step", step)
			panic(http.ErrAbortHandler)
		}
	}
}

// startStack starts a stack for one test and stops it when the test ends.
func startStack(t *testing.T, o stackOptions) *Stack {
	t.Helper()
	s, err := newStack(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.close)
	return s
}

func newStack(o stackOptions) (*Stack, error) {
	ctx := context.Background()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	s := &Stack{project: "e2e-" + hex.EncodeToString(b), deliveries: &deliveryLog{}}
	decl, err := infra.Load()
	if err != nil {
		return nil, err
	}
	s.decl = decl
	logPath := fmt.Sprintf("%s/saga-e2e-%s.log", os.TempDir(), s.project)
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	fmt.Printf("e2e: project %s (ORDER_TIMEOUT %s, crash %.2f), service logs in %s\n", s.project, o.timeout, o.crash, logPath)

	var closers []func()
	base := map[string]string{}
	env := map[string]string{"GOOGLE_CLOUD_PROJECT": s.project, "PUBSUB_TOPIC": decl.Topic, "ORDER_TIMEOUT": o.timeout.String(),
		"FIRESTORE_EMULATOR_HOST": os.Getenv("FIRESTORE_EMULATOR_HOST"), "PUBSUB_EMULATOR_HOST": os.Getenv("PUBSUB_EMULATOR_HOST"),
		"FIREBASE_AUTH_EMULATOR_HOST": os.Getenv("FIREBASE_AUTH_EMULATOR_HOST"), "FIREBASE_PROJECT": os.Getenv("FIREBASE_PROJECT")}
	s.getenv = func(k string) string { return env[k] }
	s.log = func(service string) *slog.Logger { return serve.Logger(logFile, service, s.project, slog.LevelInfo) }
	s.opts = serve.Options{AfterCommit: crashAfterCommit(o.crash, s.log("fault-switch"))}
	services := []struct {
		name  string
		build builder
	}{{saga.OrderService, build(orderservice.LoadConfig, orderservice.New)}, {saga.PointService, build(pointservice.LoadConfig, pointservice.New)},
		{saga.TicketService, build(ticketservice.LoadConfig, ticketservice.New)}}
	// The servers listen first: order-service is configured with the
	// others' URLs, for its pages.
	servers := map[string]*httptest.Server{}
	for _, svc := range services {
		srv := httptest.NewUnstartedServer(nil)
		servers[svc.name] = srv
		base[svc.name] = "http://" + srv.Listener.Addr().String()
	}
	env["POINT_SERVICE_URL"], env["TICKET_SERVICE_URL"] = base[saga.PointService], base[saga.TicketService]
	for _, kv := range decl.OpsEnv() {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	// The test's own settings last: they override the stack's.
	for k, v := range o.env {
		env[k] = v
	}
	for _, svc := range services {
		app, err := svc.build(ctx, s.getenv, s.log(svc.name), s.opts)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", svc.name, err)
		}
		srv := servers[svc.name]
		srv.Config.Handler = s.deliveries.wrap(svc.name, app.Handler())
		serve.Limit(srv.Config) // the production server's limits
		// Aborted requests are the fault switch at work, not news.
		srv.Config.ErrorLog = stdlog.New(io.Discard, "", 0)
		srv.Start()
		closers = append(closers, srv.Close, app.Close)
		contract.serve(svc.name, srv.URL)
	}
	s.order, s.point, s.ticket = base[saga.OrderService], base[saga.PointService], base[saga.TicketService]

	s.buyers = authemu.New(os.Getenv("FIREBASE_AUTH_EMULATOR_HOST"), os.Getenv("FIREBASE_PROJECT"))
	if s.pubsub, err = pubsub.NewClient(ctx, s.project); err != nil {
		return nil, err
	}
	if s.fs, err = firestore.NewClient(ctx, s.project); err != nil {
		return nil, err
	}
	// Pushes pass Pub/Sub's subscription filters, which the emulator
	// ignores, as in production.
	relay, err := pushfilter.New(decl, base)
	if err != nil {
		return nil, err
	}
	relaySrv := httptest.NewServer(relay)
	closers = append(closers, relaySrv.Close, relay.Close)
	if err := bootstrap.Apply(ctx, s.pubsub, s.project, decl, pushfilter.Endpoints(decl, relaySrv.URL)); err != nil {
		return nil, err
	}
	s.close = func() {
		for _, c := range closers {
			c()
		}
		s.pubsub.Close()
		s.fs.Close()
		logFile.Close()
	}
	return s, nil
}

// builder builds a service in process from an environment.
type builder func(ctx context.Context, getenv func(string) string, log *slog.Logger, opts serve.Options) (*serve.App, error)

// build is the builder of a service: its configuration, then its wiring.
func build[C serve.Config](load serve.Load[C], wire serve.Build[C]) builder {
	return func(ctx context.Context, getenv func(string) string, log *slog.Logger, opts serve.Options) (*serve.App, error) {
		cfg, err := load(getenv)
		if err != nil {
			return nil, err
		}
		return wire(ctx, cfg, log, opts)
	}
}

// with returns s's environment with more settings.
func (s *Stack) with(kv ...string) func(string) string {
	return func(k string) string {
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i] == k {
				return kv[i+1]
			}
		}
		return s.getenv(k)
	}
}

// delivery is one push request a service answered.
type delivery struct {
	Service   string
	EventType string
	EventID   string
	Status    int
}

// deliveryLog records every push request and its answer, so tests can wait
// for a delivery to be handled instead of sleeping.
type deliveryLog struct {
	mu   sync.Mutex
	list []delivery
	// hold, when it returns true, answers a push to service 503 without
	// handling it, as a service that is down would.
	hold func(service string, attrs map[string]string) bool
	// down services refuse every request: the connection is closed
	// unanswered, as when the instance is gone.
	down map[string]bool
	// drop, when it returns true, acks a push to service without handling
	// it: the event is lost for good, as when its publish was lost after
	// the commit that caused it.
	drop func(service string, m push.Message) bool
}

// setDrop installs (or, with nil, removes) the drop.
func (l *deliveryLog) setDrop(d func(service string, m push.Message) bool) {
	l.mu.Lock()
	l.drop = d
	l.mu.Unlock()
}

// refused is the status recorded for a push a down service refused.
const refused = 599

// setDown takes service down (every request refused) or brings it back.
func (l *deliveryLog) setDown(service string, down bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.down == nil {
		l.down = map[string]bool{}
	}
	l.down[service] = down
}

// setHold installs (or, with nil, removes) the hold.
func (l *deliveryLog) setHold(h func(service string, attrs map[string]string) bool) {
	l.mu.Lock()
	l.hold = h
	l.mu.Unlock()
}

func (l *deliveryLog) wrap(service string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.mu.Lock()
		down := l.down[service]
		l.mu.Unlock()
		isPush := strings.HasPrefix(r.URL.Path, "/push/")
		if down {
			if isPush {
				m, _ := peekPush(r)
				l.mu.Lock()
				l.list = append(l.list, delivery{Service: service, EventType: m.Attributes[saga.AttrEventType], EventID: m.Attributes[saga.AttrEventID], Status: refused})
				l.mu.Unlock()
			}
			refuse(w)
			return
		}
		if !isPush {
			h.ServeHTTP(w, r)
			return
		}
		pm, body := peekPush(r)
		r.Body = body
		m := pm.Attributes
		l.mu.Lock()
		hold, drop := l.hold, l.drop
		l.mu.Unlock()
		if hold != nil && hold(service, m) {
			http.Error(w, "held by the test", http.StatusServiceUnavailable)
			return
		}
		if drop != nil && drop(service, pm) {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(rec, r)
		l.mu.Lock()
		l.list = append(l.list, delivery{Service: service, EventType: m[saga.AttrEventType], EventID: m[saga.AttrEventID], Status: rec.status})
		l.mu.Unlock()
	})
}

// waitForCount waits until n deliveries matching ok were acked.
func (l *deliveryLog) waitForCount(t *testing.T, what string, n int, ok func(delivery) bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		l.mu.Lock()
		c := 0
		for _, d := range l.list {
			if ok(d) && d.Status < 300 {
				c++
			}
		}
		l.mu.Unlock()
		if c >= n {
			return
		}
		time.Sleep(20 * time.Millisecond) // polling an in-memory log for a condition
	}
	t.Fatalf("fewer than %d acked deliveries of %s within 20s", n, what)
}

// waitQuiet waits until no push was handled for quiet: the system has
// settled (with a 60 s limit).
func (l *deliveryLog) waitQuiet(t *testing.T, quiet time.Duration) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	last, since := -1, time.Now()
	for time.Now().Before(deadline) {
		l.mu.Lock()
		n := len(l.list)
		l.mu.Unlock()
		if n != last {
			last, since = n, time.Now()
		} else if time.Since(since) >= quiet {
			return
		}
		time.Sleep(50 * time.Millisecond) // sampling the delivery count for a quiet period
	}
	t.Fatalf("still busy after 60s")
}

// refuse closes the connection without an answer.
func refuse(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			conn.Close()
			return
		}
	}
	http.Error(w, "down", http.StatusServiceUnavailable)
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}
