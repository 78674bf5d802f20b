package serve

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/ticketsaga/saga/shared/httpjson"
)

// Health answers GET /healthz: 200 only when the service can serve, that is
// when Check passes. The answer is cached, so frequent probes cost one
// check per OKFor (or per FailFor after a failure), not one each.
type Health struct {
	Check   func(ctx context.Context) error
	OKFor   time.Duration
	FailFor time.Duration
	Timeout time.Duration

	mu      sync.Mutex
	checked time.Time
	err     error
}

// NewHealth returns a Health with the defaults: a passing check is trusted
// for 10 s, a failing one for 1 s, and a check may take 3 s.
func NewHealth(check func(ctx context.Context) error) *Health {
	return &Health{Check: check, OKFor: 10 * time.Second, FailFor: time.Second, Timeout: 3 * time.Second}
}

// Err runs the check, or returns its cached result.
func (h *Health) Err(ctx context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	ttl := h.OKFor
	if h.err != nil {
		ttl = h.FailFor
	}
	if !h.checked.IsZero() && time.Since(h.checked) < ttl {
		return h.err
	}
	ctx, cancel := context.WithTimeout(ctx, h.Timeout)
	defer cancel()
	h.err, h.checked = h.Check(ctx), time.Now()
	return h.err
}

// ServeHTTP answers the probe.
func (h *Health) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if err := h.Err(r.Context()); err != nil {
		httpjson.Write(w, http.StatusServiceUnavailable, httpjson.Failure("unavailable", "cannot serve: "+err.Error()))
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]string{"status": "ok"})
}
