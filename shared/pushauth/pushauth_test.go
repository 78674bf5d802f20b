package pushauth

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"google.golang.org/api/option"
)

// keySet serves a locally generated key as Google's JWKS, to any URL.
type keySet struct{ body []byte }

func (k keySet) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(bytes.NewReader(k.body)), Request: r}, nil
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func sign(t *testing.T, key *rsa.PrivateKey, kid string, claims map[string]any) string {
	t.Helper()
	h, _ := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT", "kid": kid})
	p, _ := json.Marshal(claims)
	signing := b64(h) + "." + b64(p)
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return signing + "." + b64(sig)
}

func TestVerifier(t *testing.T) {
	t.Parallel()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	jwks, _ := json.Marshal(map[string]any{"keys": []map[string]string{{
		"kty": "RSA", "alg": "RS256", "use": "sig", "kid": "k1",
		"n": b64(key.N.Bytes()), "e": b64(big.NewInt(int64(key.E)).Bytes()),
	}}})
	const aud, sa = "https://point-service.example.run.app", "push-invoker@p.iam.gserviceaccount.com"
	v, err := New(context.Background(), aud, []string{sa, "ops@example.com"}, slog.New(slog.NewTextHandler(io.Discard, nil)),
		option.WithHTTPClient(&http.Client{Transport: keySet{jwks}}))
	if err != nil {
		t.Fatal(err)
	}
	good := map[string]any{"iss": "https://accounts.google.com", "aud": aud, "email": sa, "email_verified": true,
		"exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix()}
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
		name string
		auth string
		want int
	}{
		{"valid", "Bearer " + sign(t, key, "k1", good), 204},
		{"another allowed identity", "Bearer " + sign(t, key, "k1", with("email", "ops@example.com")), 204},
		{"no token", "", 401},
		{"garbage", "Bearer abc.def.ghi", 401},
		{"wrong audience", "Bearer " + sign(t, key, "k1", with("aud", "https://evil.example")), 401},
		{"wrong account", "Bearer " + sign(t, key, "k1", with("email", "someone@else.com")), 401},
		{"unverified email", "Bearer " + sign(t, key, "k1", with("email_verified", false)), 401},
		{"expired", "Bearer " + sign(t, key, "k1", with("exp", time.Now().Add(-time.Hour).Unix())), 401},
		{"not google", "Bearer " + sign(t, key, "k1", with("iss", "https://evil.example")), 401},
		{"other key", "Bearer " + sign(t, other, "k1", good), 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/push/consume", nil)
			if tc.auth != "" {
				r.Header.Set("Authorization", tc.auth)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tc.want {
				t.Fatalf("status %d, want %d (%s)", w.Code, tc.want, w.Body)
			}
		})
	}
}
