package pushauth

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ticketsaga/saga/shared/platform/pushauthtest"
)

func TestVerifier(t *testing.T) {
	t.Parallel()
	issuer := pushauthtest.NewIssuer(t)
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	const aud, sa, reader = "https://point-service-123.asia-northeast1.run.app", "saga-operator@p.iam.gserviceaccount.com", "saga-order@p.iam.gserviceaccount.com"
	var logs bytes.Buffer
	v, err := New(context.Background(), aud, []string{sa, "ci@p.iam.gserviceaccount.com"}, slog.New(slog.NewTextHandler(&logs, nil)), issuer.ClientOption())
	if err != nil {
		t.Fatal(err)
	}
	v.Readers = map[string]bool{reader: true}
	v.Hint = "see docs/security.md"
	good := pushauthtest.ServiceAccountClaims(sa, aud)
	with := func(k string, val any) map[string]any {
		c := map[string]any{}
		for kk, vv := range good {
			c[kk] = vv
		}
		c[k] = val
		return c
	}
	h := v.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }))
	for _, tc := range []struct {
		name   string
		method string
		auth   string
		want   int
	}{
		{"an allowed service account", "PUT", issuer.Sign(t, good), 204},
		{"another allowed identity", "PUT", issuer.Sign(t, with("email", "ci@p.iam.gserviceaccount.com")), 204},
		{"a reader reads", "GET", issuer.ServiceAccountToken(t, reader, aud), 204},
		{"a reader writes", "PUT", issuer.ServiceAccountToken(t, reader, aud), 403},
		{"a reader posts", "POST", issuer.ServiceAccountToken(t, reader, aud), 403},
		{"a reader's token for another service", "GET", issuer.ServiceAccountToken(t, reader, "https://ticket-service-123.asia-northeast1.run.app"), 401},
		{"an allowed person's own gcloud token", "PUT", issuer.PersonToken(t, sa), 401},
		{"no token", "PUT", "", 401},
		{"garbage", "PUT", "abc.def.ghi", 401},
		{"wrong audience", "PUT", issuer.Sign(t, with("aud", "https://evil.example")), 401},
		{"wrong account", "PUT", issuer.Sign(t, with("email", "someone@else.com")), 401},
		{"unverified email", "PUT", issuer.Sign(t, with("email_verified", false)), 401},
		{"expired", "PUT", issuer.Sign(t, with("exp", time.Now().Add(-time.Hour).Unix())), 401},
		{"not google", "PUT", issuer.Sign(t, with("iss", "https://evil.example")), 401},
		{"other key", "PUT", pushauthtest.SignWith(t, other, "test-key", good), 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, "/accounts/alice", nil)
			if tc.auth != "" {
				r.Header.Set("Authorization", "Bearer "+tc.auth)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tc.want {
				t.Fatalf("status %d, want %d (%s)", w.Code, tc.want, w.Body)
			}
			if w.Code == 401 && !strings.Contains(w.Body.String(), "see docs/security.md") {
				t.Errorf("401 without the hint: %s", w.Body)
			}
		})
	}
	// The log says why a person's own token is refused: its audience.
	if !strings.Contains(logs.String(), pushauthtest.GcloudClientID) {
		t.Errorf("the refusal of a person's gcloud token does not name its audience:\n%s", logs.String())
	}
}
