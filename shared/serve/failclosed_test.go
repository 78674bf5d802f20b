package serve

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/ticketsaga/saga/shared/config"
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
	defer func() {
		if p := recover(); p == nil || !strings.Contains(p.(error).Error(), "PUSH_SERVICE_ACCOUNT") {
			t.Errorf("as a function: %v", p)
		}
	}()
	Lazy(refuse, build)()
}
