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
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/firestore"
	"cloud.google.com/go/pubsub/v2"

	"github.com/ticketsaga/saga/infra"
	"github.com/ticketsaga/saga/infra/bootstrap"
	"github.com/ticketsaga/saga/infra/emulator"
	orderapp "github.com/ticketsaga/saga/order-service/app"
	pointapp "github.com/ticketsaga/saga/point-service/app"
	"github.com/ticketsaga/saga/shared/config"
	"github.com/ticketsaga/saga/shared/event"
	"github.com/ticketsaga/saga/shared/logging"
	"github.com/ticketsaga/saga/shared/serve"
	ticketapp "github.com/ticketsaga/saga/ticket-service/app"
)

// stack is the running saga the tests talk to.
var stack struct {
	project              string
	decl                 infra.PubSub
	order, point, ticket string // base URLs
	pubsub               *pubsub.Client
	fs                   *firestore.Client
	deliveries           *deliveryLog
}

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		fmt.Println("e2e: not run in -short mode (unit tests only)")
		os.Exit(0)
	}
	if _, _, err := emulator.Require(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	stop, err := start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: start the stack:", err)
		os.Exit(1)
	}
	code := m.Run()
	stop()
	os.Exit(code)
}

func start() (func(), error) {
	ctx := context.Background()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	// A project of its own: runs never see each other's data.
	stack.project = "e2e-" + hex.EncodeToString(b)
	decl, err := infra.Load()
	if err != nil {
		return nil, err
	}
	stack.decl = decl
	logPath := fmt.Sprintf("%s/saga-e2e-%s.log", os.TempDir(), stack.project)
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	fmt.Printf("e2e: project %s, service logs in %s\n", stack.project, logPath)

	stack.deliveries = &deliveryLog{}
	var closers []func()
	base := map[string]string{}
	for _, svc := range []struct {
		name  string
		build serve.Build
	}{{event.OrderService, orderapp.New}, {event.PointService, pointapp.New}, {event.TicketService, ticketapp.New}} {
		cfg := config.Config{Service: svc.name, ProjectID: stack.project, Topic: decl.Topic, OrderTimeout: 30 * time.Second}
		log := logging.New(logFile, svc.name, stack.project, slog.LevelInfo)
		app, err := svc.build(ctx, cfg, log)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", svc.name, err)
		}
		srv := httptest.NewServer(stack.deliveries.wrap(app.Handler()))
		closers = append(closers, srv.Close, app.Close)
		base[svc.name] = srv.URL
	}
	stack.order, stack.point, stack.ticket = base[event.OrderService], base[event.PointService], base[event.TicketService]

	if stack.pubsub, err = pubsub.NewClient(ctx, stack.project); err != nil {
		return nil, err
	}
	if stack.fs, err = firestore.NewClient(ctx, stack.project); err != nil {
		return nil, err
	}
	if err := bootstrap.Apply(ctx, stack.pubsub, stack.project, decl, base); err != nil {
		return nil, err
	}
	return func() {
		for _, c := range closers {
			c()
		}
		stack.pubsub.Close()
		stack.fs.Close()
		logFile.Close()
	}, nil
}

// delivery is one push request a service answered.
type delivery struct {
	Path      string
	EventType string
	EventID   string
	Status    int
}

// deliveryLog records every push request and its answer, so tests can wait
// for a delivery to be handled instead of sleeping.
type deliveryLog struct {
	mu   sync.Mutex
	list []delivery
}

func (l *deliveryLog) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.URL.Path) < 6 || r.URL.Path[:6] != "/push/" {
			h.ServeHTTP(w, r)
			return
		}
		m, body := peekPush(r)
		r.Body = body
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(rec, r)
		l.mu.Lock()
		l.list = append(l.list, delivery{Path: r.URL.Path, EventType: m[event.AttrEventType], EventID: m[event.AttrEventID], Status: rec.status})
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

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}
