package serve

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/ticketsaga/saga/shared/config"
)

// TestRefusesToStartUnauthenticated: on Cloud Run, and as a function, each
// service's real start-up path stops before building anything when its
// authentication is not configured, and says which variable is missing.
func TestRefusesToStartUnauthenticated(t *testing.T) {
	for _, v := range []string{"FIRESTORE_EMULATOR_HOST", "PUBSUB_EMULATOR_HOST", "FIREBASE_AUTH_EMULATOR_HOST", "PUSH_SERVICE_ACCOUNT", "FUNCTION_TARGET"} {
		t.Setenv(v, "") // make test runs with the emulators' variables set
	}
	t.Setenv("K_SERVICE", "x")
	t.Setenv("GOOGLE_CLOUD_PROJECT", "p")
	t.Setenv("AUTH_AUDIENCE", "https://x.run.app")
	t.Setenv("TASK_SERVICE_ACCOUNT", "sched@p.iam.gserviceaccount.com")
	t.Setenv("ADMIN_IDENTITIES", "ops@example.com")
	build := func(context.Context, config.Config, *slog.Logger) (*App, error) {
		t.Fatal("built a service that should have refused to start")
		return nil, nil
	}
	for _, svc := range []string{"order-service", "point-service", "ticket-service"} {
		err := run(context.Background(), svc, build, func() {})
		if err == nil || !strings.Contains(err.Error(), "refuses to start") || !strings.Contains(err.Error(), "PUSH_SERVICE_ACCOUNT") {
			t.Errorf("%s on Cloud Run without PUSH_SERVICE_ACCOUNT: %v", svc, err)
		}
		func() {
			t.Setenv("K_SERVICE", "")
			t.Setenv("FUNCTION_TARGET", "Fn")
			defer func() {
				if p := recover(); p == nil || !strings.Contains(p.(error).Error(), "PUSH_SERVICE_ACCOUNT") {
					t.Errorf("%s as a function without PUSH_SERVICE_ACCOUNT: %v", svc, p)
				}
			}()
			Lazy(svc, build)()
		}()
		t.Setenv("K_SERVICE", "x")
		t.Setenv("FUNCTION_TARGET", "")
	}
}
