//go:build localstack

package serve

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/ticketsaga/saga/shared/platform/telemetry"
)

// TestFaultSwitch: the local stack's build turns FAULT_CRASH_AFTER_COMMIT
// into a hook that crashes after that fraction of the commits, and refuses
// what is not a probability.
func TestFaultSwitch(t *testing.T) {
	t.Parallel()
	log := slog.New(slog.DiscardHandler)
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == envCrashAfterCommit {
				return v
			}
			return ""
		}
	}
	for _, v := range []string{"", "0"} {
		if opts, err := faults(env(v), log, func() { t.Fatal("crashed") }); err != nil || opts.AfterCommit != nil {
			t.Errorf("%q: %+v, %v, want no hook", v, opts, err)
		}
	}
	crashes := 0
	opts, err := faults(env("1"), log, func() { crashes++ })
	if err != nil || opts.AfterCommit == nil {
		t.Fatalf("1: %+v, %v, want a hook", opts, err)
	}
	for range 3 {
		opts.AfterCommit("grant")
	}
	if crashes != 3 {
		t.Errorf("probability 1: %d crashes after 3 commits, want 3", crashes)
	}
	for _, v := range []string{"1.5", "-0.1", "often"} {
		if _, err := faults(env(v), log, func() {}); err == nil {
			t.Errorf("%q accepted, want a probability from 0 to 1", v)
		}
	}
}

// TestTelemetrySwitch: with the profiler on, PUT /debug/telemetry pauses
// and resumes the spans (and the metrics); without it the route does not
// exist.
func TestTelemetrySwitch(t *testing.T) {
	stop, err := telemetry.Setup(context.Background(), telemetry.Config{Service: "test", Exporter: "file:" + filepath.Join(t.TempDir(), "spans")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stop(context.Background()); telemetry.Pause(false) })
	api := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNotFound) })
	health := NewHealth(func(context.Context) error { return nil }, slog.New(slog.DiscardHandler))
	put := func(h http.Handler, query string) int {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("PUT", "/debug/telemetry"+query, nil))
		return w.Code
	}
	h := (&App{API: api, Pprof: true, Health: health}).Handler()
	if code := put(h, "?record=0"); code != http.StatusNoContent || telemetry.Enabled() {
		t.Fatalf("record=0: %d, spans on %v, want 204 and paused", code, telemetry.Enabled())
	}
	if code := put(h, "?record=1"); code != http.StatusNoContent || !telemetry.Enabled() {
		t.Fatalf("record=1: %d, spans on %v, want 204 and recording", code, telemetry.Enabled())
	}
	if code := put(h, "?record=maybe"); code != http.StatusBadRequest {
		t.Errorf("record=maybe: %d, want 400", code)
	}
	if code := put((&App{API: api, Health: health}).Handler(), "?record=0"); code != http.StatusNotFound || !telemetry.Enabled() {
		t.Errorf("without PPROF: %d, spans on %v, want the API's 404 and recording", code, telemetry.Enabled())
	}
}
