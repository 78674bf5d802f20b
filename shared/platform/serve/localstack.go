//go:build localstack

package serve

// The local stack's build: `go build -tags localstack`, which devstack
// uses for the services of `make run` and `make bench`. It adds what only
// a drill or a measurement on the local stack needs: the fault switch
// FAULT_CRASH_AFTER_COMMIT and the telemetry pause PUT /debug/telemetry. A
// production build (no tag: Cloud Run's buildpack, `go build ./...`) has
// production.go instead, without either (docs/operations.md).

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"

	"github.com/ticketsaga/saga/shared/platform/httpjson"
	"github.com/ticketsaga/saga/shared/platform/internal/pushauth"
	"github.com/ticketsaga/saga/shared/platform/metrics"
	"github.com/ticketsaga/saga/shared/platform/telemetry"
)

// faults reads the fault switch FAULT_CRASH_AFTER_COMMIT (the probability
// that the service crashes right after a step's commit, before
// publishing; `make run` restarts it, as Cloud Run would) into Options.
// crash is how it crashes.
func faults(getenv func(string) string, log *slog.Logger, crash func()) (Options, error) {
	v := getenv(envCrashAfterCommit)
	if v == "" {
		return Options{}, nil
	}
	p, err := strconv.ParseFloat(v, 64)
	if err != nil || p < 0 || p > 1 {
		return Options{}, fmt.Errorf("%s=%q: want a probability from 0 to 1", envCrashAfterCommit, v)
	}
	if p == 0 {
		return Options{}, nil
	}
	return Options{AfterCommit: func(step string) {
		if rand.Float64() < p {
			log.Warn("fault switch: crashing after commit, before publish", "step", step)
			crash()
		}
	}}, nil
}

// localRoutes adds the local stack's debug switch beside the profiler
// (PPROF), behind the same check.
func localRoutes(mux *http.ServeMux, auth *pushauth.Verifier) {
	mux.Handle("PUT /debug/telemetry", auth.Require(http.HandlerFunc(pauseTelemetry)))
}

// pauseTelemetry is PUT /debug/telemetry?record=0|1: spans and metrics
// paused or recorded again, exporters kept, so that `make bench` compares
// both on one running stack (fresh stacks differ more than what it
// measures).
func pauseTelemetry(w http.ResponseWriter, r *http.Request) {
	record, err := strconv.ParseBool(r.URL.Query().Get("record"))
	if err != nil {
		httpjson.Write(w, http.StatusBadRequest, httpjson.Failure("invalid_record", "record must be 0 or 1"))
		return
	}
	telemetry.Pause(!record)
	metrics.Pause(!record)
	w.WriteHeader(http.StatusNoContent)
}
