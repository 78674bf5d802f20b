//go:build !localstack

package serve

// The production build (no build tag: Cloud Run's buildpack, `go build
// ./...`): no fault switch and no telemetry pause. Both are in the local
// stack's build only (localstack.go, `go build -tags localstack`).

import (
	"fmt"
	"log/slog"
	"net/http"

	"github.com/ticketsaga/saga/shared/platform/internal/pushauth"
)

// faults refuses the fault switch: this build has none, and a setting that
// asks for crashes is reported at the start, never silently ignored.
func faults(getenv func(string) string, _ *slog.Logger, _ func()) (Options, error) {
	if v := getenv(envCrashAfterCommit); v != "" {
		return Options{}, fmt.Errorf("%s=%q: this build has no fault switch; it is only in the local stack's build "+
			"(go build -tags localstack, as make run builds the services): unset it", envCrashAfterCommit, v)
	}
	return Options{}, nil
}

// localRoutes adds nothing: PUT /debug/telemetry exists only in the local
// stack's build.
func localRoutes(*http.ServeMux, *pushauth.Verifier) {}
