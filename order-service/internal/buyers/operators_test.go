package buyers

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/ticketsaga/saga/shared/saga"
)

func TestOperators(t *testing.T) {
	r := httptest.NewRequest("GET", "/ops/api/stuck", nil)
	if err := (Operators{Open: true}).Allow(context.Background(), r); err != nil {
		t.Errorf("open (the emulators): %v", err)
	}
	if err := (Operators{}).Allow(context.Background(), r); saga.KindOf(err) != saga.Forbidden {
		t.Errorf("no operator configured: %v, want forbidden", err)
	}
}
