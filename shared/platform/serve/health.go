package serve

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/ticketsaga/saga/shared/platform/httpjson"
)

// Health answers GET /healthz: 200 only when the service can serve, that is
// when Check passes. The answer is cached, so frequent probes cost one
// check per OKFor (or per FailFor after a failure), not one each.
//
// The check runs on its own context, never a caller's: a probe that hangs
// up leaves it running for the others, so no caller can make another's
// probe fail. Its error is logged, never shown: order-service is public.
type Health struct {
	Check   func(ctx context.Context) error
	OKFor   time.Duration
	FailFor time.Duration
	Timeout time.Duration
	Log     *slog.Logger

	mu      sync.Mutex
	checked time.Time
	err     error
	running chan struct{} // closed when the check in flight ends; nil when none is
}

// NewHealth returns a Health with the defaults: a passing check is trusted
// for 10 s, a failing one for 1 s, and a check may take 3 s.
func NewHealth(check func(ctx context.Context) error, log *slog.Logger) *Health {
	return &Health{Check: check, OKFor: 10 * time.Second, FailFor: time.Second, Timeout: 3 * time.Second, Log: log}
}

// Err returns the check's cached result, or waits for a new check (one for
// all the callers waiting at once) until it ends or ctx does.
func (h *Health) Err(ctx context.Context) error {
	h.mu.Lock()
	ttl := h.OKFor
	if h.err != nil {
		ttl = h.FailFor
	}
	if !h.checked.IsZero() && time.Since(h.checked) < ttl {
		err := h.err
		h.mu.Unlock()
		return err
	}
	if h.running == nil {
		h.running = make(chan struct{})
		go h.run(h.running)
	}
	done := h.running
	h.mu.Unlock()
	select {
	case <-done:
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// run runs the check and records its result.
func (h *Health) run(done chan struct{}) {
	ctx, cancel := context.WithTimeout(context.Background(), h.Timeout)
	err := h.Check(ctx)
	cancel()
	if err != nil && h.Log != nil {
		h.Log.Warn("health check failed: answering 503", "error", err.Error())
	}
	h.mu.Lock()
	h.err, h.checked, h.running = err, time.Now(), nil
	h.mu.Unlock()
	close(done)
}

// ServeHTTP answers the probe.
func (h *Health) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if err := h.Err(r.Context()); err != nil {
		httpjson.Write(w, http.StatusServiceUnavailable, httpjson.Failure("unavailable", "the service cannot serve now"))
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]string{"status": "ok"})
}
