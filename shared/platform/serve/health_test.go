package serve

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func probe(h *Health, ctx context.Context) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/healthz", nil).WithContext(ctx))
	return w
}

func TestHealthCachesItsAnswer(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	var fail atomic.Pointer[error]
	var logs bytes.Buffer
	h := NewHealth(func(context.Context) error {
		calls.Add(1)
		if e := fail.Load(); e != nil {
			return *e
		}
		return nil
	}, slog.New(slog.NewTextHandler(&logs, nil)))
	h.OKFor, h.FailFor = time.Hour, time.Hour
	for range 3 {
		if w := probe(h, context.Background()); w.Code != http.StatusOK {
			t.Fatalf("status %d, want 200", w.Code)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("%d checks for 3 probes within OKFor, want 1", n)
	}

	h.OKFor = 0 // expire the success
	secret := errors.New("firestore: rpc error: code = Unavailable desc = 10.8.0.3:443 connection refused")
	fail.Store(&secret)
	w := probe(h, context.Background())
	if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), `"code":"unavailable"`) {
		t.Fatalf("failing check answered %d %s", w.Code, w.Body)
	}
	// The public service shows no internal text; the log has it.
	if strings.Contains(w.Body.String(), "firestore") || strings.Contains(w.Body.String(), "10.8.0.3") {
		t.Errorf("the answer shows the check's error: %s", w.Body)
	}
	if !strings.Contains(logs.String(), "10.8.0.3:443 connection refused") {
		t.Errorf("the check's error is not logged:\n%s", logs.String())
	}
	fail.Store(nil)
	if w := probe(h, context.Background()); w.Code != http.StatusServiceUnavailable {
		t.Errorf("a failure cached for FailFor answered %d", w.Code)
	}
	h.FailFor = 0
	if w := probe(h, context.Background()); w.Code != http.StatusOK {
		t.Errorf("after FailFor: %d, want 200", w.Code)
	}
}

// TestHealthIndependentOfItsCaller: a probe that hangs up while the check
// runs neither fails the check nor the probes waiting with it, nor the
// next one.
func TestHealthIndependentOfItsCaller(t *testing.T) {
	t.Parallel()
	started, release := make(chan struct{}, 1), make(chan struct{})
	var calls atomic.Int32
	h := NewHealth(func(ctx context.Context) error {
		calls.Add(1)
		started <- struct{}{}
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}, slog.New(slog.DiscardHandler))
	leaving, leave := context.WithCancel(context.Background())
	first := make(chan int)
	go func() { first <- probe(h, leaving).Code }()
	<-started
	second := make(chan int)
	go func() { second <- probe(h, context.Background()).Code }()
	leave() // the first prober hangs up mid-check
	<-first
	close(release)
	if code := <-second; code != http.StatusOK {
		t.Errorf("the probe waiting beside one that hung up: %d, want 200", code)
	}
	if code := probe(h, context.Background()).Code; code != http.StatusOK {
		t.Errorf("the next probe: %d, want 200 (no failure was cached)", code)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("%d checks, want 1 shared by the probes", n)
	}
}
