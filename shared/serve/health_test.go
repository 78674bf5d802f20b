package serve

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestHealthCachesItsAnswer(t *testing.T) {
	t.Parallel()
	calls := 0
	var fail error
	h := NewHealth(func(context.Context) error { calls++; return fail })
	h.OKFor, h.FailFor = time.Hour, time.Hour
	probe := func() *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "/healthz", nil))
		return w
	}
	for range 3 {
		if w := probe(); w.Code != http.StatusOK {
			t.Fatalf("status %d, want 200", w.Code)
		}
	}
	if calls != 1 {
		t.Errorf("%d checks for 3 probes within OKFor, want 1", calls)
	}

	h.OKFor = 0 // expire the success
	fail = errors.New("firestore: unavailable")
	w := probe()
	if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), `"code":"unavailable"`) ||
		!strings.Contains(w.Body.String(), "firestore: unavailable") {
		t.Fatalf("failing check answered %d %s", w.Code, w.Body)
	}
	fail = nil
	if w := probe(); w.Code != http.StatusServiceUnavailable {
		t.Errorf("a failure cached for FailFor answered %d", w.Code)
	}
	h.FailFor = 0
	if w := probe(); w.Code != http.StatusOK {
		t.Errorf("after FailFor: %d, want 200", w.Code)
	}
}
