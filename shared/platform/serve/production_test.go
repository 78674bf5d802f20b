//go:build !localstack

package serve

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ticketsaga/saga/shared/platform/config"
)

// TestProductionBuildRefusesTheFaultSwitch: a production build has no
// fault switch, and FAULT_CRASH_AFTER_COMMIT set on one stops the start,
// naming the variable, as a process and as a function, before anything
// is built. Any value is refused, 0 too: the setting belongs to another
// build.
func TestProductionBuildRefusesTheFaultSwitch(t *testing.T) {
	load := func(func(string) string) (config.Common, error) { return config.Common{Service: "ticket-service"}, nil }
	build := func(context.Context, config.Common, *slog.Logger, Options) (*App, error) {
		t.Fatal("built a service with the fault switch set on a production build")
		return nil, nil
	}
	for _, v := range []string{"0.05", "1", "0"} {
		t.Setenv(envCrashAfterCommit, v)
		if err := run(context.Background(), load, build, func() {}); err == nil || !strings.Contains(err.Error(), envCrashAfterCommit) {
			t.Errorf("%s=%s: run = %v, want a refusal naming the variable", envCrashAfterCommit, v, err)
		}
		if _, err := Lazy(load, build)(); err == nil || !strings.Contains(err.Error(), envCrashAfterCommit) {
			t.Errorf("%s=%s: as a function: %v, want a refusal naming the variable", envCrashAfterCommit, v, err)
		}
	}
	opts, err := faults(func(string) string { return "" }, slog.New(slog.DiscardHandler), func() {})
	if err != nil || opts.AfterCommit != nil {
		t.Errorf("unset: %+v, %v, want no hook and no error", opts, err)
	}
}

// TestProductionBuildHasNoTelemetrySwitch: with the profiler on, a
// production build serves /debug/pprof/ but has no PUT /debug/telemetry:
// the request reaches the API like any other path.
func TestProductionBuildHasNoTelemetrySwitch(t *testing.T) {
	t.Parallel()
	var apiGot []string
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		apiGot = append(apiGot, r.Method+" "+r.URL.Path)
		w.WriteHeader(http.StatusNotFound)
	})
	a := &App{API: api, Pprof: true, Health: NewHealth(func(context.Context) error { return nil }, slog.New(slog.DiscardHandler))}
	h := a.Handler()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/debug/pprof/", nil))
	if w.Code != http.StatusOK || len(apiGot) != 0 {
		t.Fatalf("GET /debug/pprof/ with PPROF on = %d (API got %v), want the profiler's index", w.Code, apiGot)
	}
	w = httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("PUT", "/debug/telemetry?record=0", nil))
	if w.Code != http.StatusNotFound || len(apiGot) != 1 || apiGot[0] != "PUT /debug/telemetry" {
		t.Errorf("PUT /debug/telemetry = %d (API got %v), want it passed to the API as an unknown path", w.Code, apiGot)
	}
}
