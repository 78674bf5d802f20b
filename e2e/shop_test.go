package e2e

import (
	"net/http"
	"os"
	"strings"
	"testing"
)

// TestShopReads: the reads behind the buyer's page. GET /me and GET
// /catalog need a buyer's token; /me shows the buyer's own balance (null
// without an account) and tickets, read from point- and ticket-service;
// /catalog and ticket-service's GET /tickets list the types with their
// stock.
func TestShopReads(t *testing.T) {
	t.Parallel()
	s := stack
	user, nobody, ticket := uniq("shop"), uniq("shop-none"), uniq("shop-t")
	s.seedAccount(t, user, 5000)
	s.seedTicket(t, ticket, 700, 3)

	for _, path := range []string{"/me", "/catalog"} {
		r := do(t, "GET", s.order+path, nil)
		mustStatus(t, r, http.StatusUnauthorized)
		if r.Header.Get("WWW-Authenticate") == "" || r.str("error", "code") != "unauthenticated" {
			t.Errorf("GET %s without a token: %s %v", path, r.Raw, r.Header)
		}
	}

	mustStatus(t, s.buy(t, user, "?wait=30s", map[string]any{"ticket_id": ticket, "quantity": 2, "price": 1400}), http.StatusCreated)
	me := do(t, "GET", s.order+"/me", nil, s.bearer(t, user)...)
	mustStatus(t, me, http.StatusOK)
	tickets, _ := me.Body["tickets"].([]any)
	if me.str("user_id") != user || me.Body["balance"] != float64(3600) || len(tickets) != 1 ||
		tickets[0].(map[string]any)["ticket_id"] != ticket || tickets[0].(map[string]any)["count"] != float64(2) {
		t.Errorf("GET /me = %s", me.Raw)
	}
	none := do(t, "GET", s.order+"/me", nil, s.bearer(t, nobody)...)
	mustStatus(t, none, http.StatusOK)
	if v, ok := none.Body["balance"]; !ok || v != nil || !strings.Contains(none.Raw, `"tickets":[]`) {
		t.Errorf("GET /me of a buyer with no account = %s", none.Raw)
	}

	for _, list := range []resp{do(t, "GET", s.order+"/catalog", nil, s.bearer(t, user)...), do(t, "GET", s.ticket+"/tickets", nil)} {
		mustStatus(t, list, http.StatusOK)
		found := false
		for _, e := range list.Body["tickets"].([]any) {
			if m := e.(map[string]any); m["ticket_id"] == ticket {
				found = m["price"] == float64(700) && m["stock"] == float64(1)
			}
		}
		if !found {
			t.Errorf("the catalog lacks %s at 700 with 1 left: %s", ticket, list.Raw)
		}
	}
}

// TestPagesServed: the pages and their assets are served with a policy
// that lets them talk to this service and the sign-in service only; their
// settings point at the Auth emulator.
func TestPagesServed(t *testing.T) {
	t.Parallel()
	s := stack
	for _, path := range []string{"/", "/ops"} {
		r := do(t, "GET", s.order+path, nil)
		mustStatus(t, r, http.StatusOK)
		csp := r.Header.Get("Content-Security-Policy")
		if !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") || !strings.Contains(csp, "default-src 'none'") ||
			!strings.Contains(csp, "connect-src 'self' http://"+os.Getenv("FIREBASE_AUTH_EMULATOR_HOST")) || !strings.Contains(r.Raw, "<main>") {
			t.Errorf("GET %s: %v\n%.300s", path, r.Header, r.Raw)
		}
	}
	mustStatus(t, do(t, "GET", s.order+"/assets/app.css", nil), http.StatusOK)
	mustStatus(t, do(t, "GET", s.order+"/assets/nope.js", nil), http.StatusNotFound)
	conf := do(t, "GET", s.order+"/pages/config.json", nil)
	mustStatus(t, conf, http.StatusOK)
	if conf.str("auth_url") != "http://"+os.Getenv("FIREBASE_AUTH_EMULATOR_HOST")+"/identitytoolkit.googleapis.com/v1" || conf.Body["ops_open"] != true {
		t.Errorf("page settings = %s", conf.Raw)
	}
}

// TestOpsAPI: the operator page's API answers bad input with the
// contract's errors, and its reads work against the emulators.
func TestOpsAPI(t *testing.T) {
	t.Parallel()
	s := stack
	for _, c := range []struct {
		method, path string
		body         any
		status       int
		code         string
	}{
		{"GET", "/ops/api/stuck?older_than=soon", nil, 400, "invalid_older_than"},
		{"GET", "/ops/api/stuck?older_than=5m", nil, 200, ""},
		{"GET", "/ops/api/orders/" + uniq("nobody-knows") + "/timeline", nil, 404, "order_not_found"},
		{"GET", "/ops/api/orders/__x__/timeline", nil, 400, "invalid_order_id"},
		{"GET", "/ops/api/reconciliations", nil, 200, ""},
		{"GET", "/ops/api/deadletters", nil, 200, ""},
		{"POST", "/ops/api/redrive", map[string]any{}, 400, "missing_field"},
		{"POST", "/ops/api/redrive", map[string]any{"subscription": "../x"}, 400, "invalid_subscription"},
		{"POST", "/ops/api/redrive", map[string]any{"subscription": "point-events", "reason": "no such reason " + uniq("r")}, 200, ""},
	} {
		r := do(t, c.method, s.order+c.path, c.body)
		if r.Status != c.status || r.str("error", "code") != c.code {
			t.Errorf("%s %s: %d %s, want %d %q", c.method, c.path, r.Status, r.Raw, c.status, c.code)
		}
	}
	// Open locally, but not to other sites a developer's browser visits.
	r := do(t, "POST", s.order+"/ops/api/redrive", map[string]any{"subscription": "point-events"}, "Sec-Fetch-Site", "cross-site")
	if r.Status != http.StatusForbidden || r.str("error", "code") != "forbidden" {
		t.Errorf("a cross-site redrive: %d %s", r.Status, r.Raw)
	}
}
