package pages

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, path string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec
}

func TestPagesAndPolicy(t *testing.T) {
	h := Handler(Config{AuthURL: "https://identitytoolkit.googleapis.com/v1", TokenURL: "https://securetoken.googleapis.com/v1", APIKey: "k"})
	for path, want := range map[string]string{"/": "Ticket shop", "/ops": "Saga operations", "/assets/shop.js": "Idempotency-Key",
		"/assets/ops.js": "redrive", "/assets/common.js": "signInWithPassword", "/assets/app.css": ":focus-visible"} {
		rec := get(t, h, path)
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), want) {
			t.Errorf("GET %s: %d, body lacks %q", path, rec.Code, want)
		}
		csp := rec.Header().Get("Content-Security-Policy")
		if csp != "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "+
			"connect-src 'self' https://identitytoolkit.googleapis.com https://securetoken.googleapis.com; "+
			"form-action 'none'; frame-ancestors 'none'; base-uri 'none'" {
			t.Errorf("GET %s: policy %q", path, csp)
		}
	}
	for _, path := range []string{"/assets/missing.js", "/assets/", "/assets/index.html", "/assets/ops.html"} {
		if rec := get(t, h, path); rec.Code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, rec.Code)
		}
	}
	conf := get(t, h, "/pages/config.json").Body.String()
	if conf != `{"auth_url":"https://identitytoolkit.googleapis.com/v1","token_url":"https://securetoken.googleapis.com/v1","api_key":"k","ops_open":false}` {
		t.Errorf("config = %s", conf)
	}
}

// TestNoOutsideReferences: the pages load nothing from another host.
func TestNoOutsideReferences(t *testing.T) {
	entries, err := static.ReadDir("static")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := static.ReadFile("static/" + e.Name())
		if err != nil {
			t.Fatal(err)
		}
		for _, bad := range []string{"http://", "https://", "//cdn", "<style", "style=\"", "onclick="} {
			if strings.Contains(string(b), bad) {
				t.Errorf("%s contains %q: the pages use their own files only, and no inline style or handler", e.Name(), bad)
			}
		}
	}
}
