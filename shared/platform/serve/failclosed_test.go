package serve

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ticketsaga/saga/shared/platform/config"
)

// TestRefusesToStartWhenItsConfigurationDoes: the start-up path stops
// before building anything when the service's configuration refuses (its
// authentication is not configured), as a process and as a function.
func TestRefusesToStartWhenItsConfigurationDoes(t *testing.T) {
	t.Parallel()
	refuse := func(func(string) string) (config.Common, error) {
		return config.Common{}, errors.New("point-service refuses to start on Cloud Run: authentication is not configured: set PUSH_SERVICE_ACCOUNT")
	}
	build := func(context.Context, config.Common, *slog.Logger, Options) (*App, error) {
		t.Fatal("built a service that should have refused to start")
		return nil, nil
	}
	if err := run(context.Background(), refuse, build, func() {}); err == nil || !strings.Contains(err.Error(), "PUSH_SERVICE_ACCOUNT") {
		t.Errorf("run = %v", err)
	}
	if _, err := Lazy(refuse, build)(); err == nil || !strings.Contains(err.Error(), "PUSH_SERVICE_ACCOUNT") {
		t.Errorf("as a function: %v", err)
	}
}

// TestAdminOnlyAPIRequiresAnAdmin: with admin identities configured, the
// admin API of point- and ticket-service answers 401 to a caller without
// an ID token, and the health check stays
// open.
func TestAdminOnlyAPIRequiresAnAdmin(t *testing.T) {
	t.Parallel()
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	a := &App{API: ok, AdminOnly: true, Health: NewHealth(func(context.Context) error { return nil }, slog.New(slog.DiscardHandler))}
	cfg := config.Common{AuthAudience: "https://point.example", AdminIdentities: []string{"ops@example.com"}}
	if err := a.Secure(context.Background(), cfg, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	for name, h := range map[string]http.Handler{"the service": a.Handler(), "its API alone": a.APIHandler()} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "/accounts/alice", nil))
		if w.Code != http.StatusUnauthorized {
			t.Errorf("%s: GET /accounts/alice without a token = %d, want 401", name, w.Code)
		}
	}
	w := httptest.NewRecorder()
	a.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/healthz", nil))
	if w.Code != http.StatusOK {
		t.Errorf("/healthz = %d", w.Code)
	}
}
