package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/ticketsaga/saga/tools/pushfilter"
)

// TestRelayStats: the relays' counts are read from GET /stats at the URL
// the environment names; with no relay they are zero.
func TestRelayStats(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/stats" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(`{"forwarded":12,"replays":3}`))
	}))
	defer srv.Close()
	t.Setenv("BENCH_PUSHFILTER_URL", "")
	if s, err := pushStats(context.Background()); err != nil || s != (pushfilter.Stats{}) {
		t.Fatalf("without a relay: %+v, %v", s, err)
	}
	t.Setenv("BENCH_PUSHFILTER_URL", srv.URL)
	if s, err := pushStats(context.Background()); err != nil || s != (pushfilter.Stats{Forwarded: 12, Replays: 3}) {
		t.Fatalf("from the relay: %+v, %v", s, err)
	}
}
