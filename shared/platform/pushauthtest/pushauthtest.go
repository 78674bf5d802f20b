// Package pushauthtest signs ID tokens shaped like the ones Google issues,
// with a key of its own that a validator under test fetches as Google's:
// for tests of who may call what, with the claims real callers carry.
package pushauthtest

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"math/big"
	"net/http"
	"testing"
	"time"

	"google.golang.org/api/option"
)

// GcloudClientID is the OAuth client of the Google Cloud CLI: the audience
// (and authorized party) of the ID token `gcloud auth print-identity-token`
// prints for a person's account, which cannot be given another audience.
const GcloudClientID = "32555940559.apps.googleusercontent.com"

// Issuer signs tokens with a key that only its ClientOption serves.
type Issuer struct {
	key  *rsa.PrivateKey
	kid  string
	jwks []byte
}

// NewIssuer returns an issuer with a fresh 2048-bit RSA key.
func NewIssuer(t testing.TB) *Issuer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	i := &Issuer{key: key, kid: "test-key"}
	i.jwks, err = json.Marshal(map[string]any{"keys": []map[string]string{{
		"kty": "RSA", "alg": "RS256", "use": "sig", "kid": i.kid,
		"n": b64(key.N.Bytes()), "e": b64(big.NewInt(int64(key.E)).Bytes()),
	}}})
	if err != nil {
		t.Fatal(err)
	}
	return i
}

// ClientOption makes a validator (idtoken.NewValidator) fetch the issuer's
// key wherever it fetches Google's.
func (i *Issuer) ClientOption() option.ClientOption {
	return option.WithHTTPClient(&http.Client{Transport: keySet(i.jwks)})
}

// keySet answers every request with the key set.
type keySet []byte

func (k keySet) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(bytes.NewReader(k)), Request: r}, nil
}

// Sign returns a token with claims, signed with the issuer's key.
func (i *Issuer) Sign(t testing.TB, claims map[string]any) string {
	t.Helper()
	return SignWith(t, i.key, i.kid, claims)
}

// SignWith signs claims with key under kid (a key the validator does not
// know, for a forged token).
func SignWith(t testing.TB, key *rsa.PrivateKey, kid string, claims map[string]any) string {
	t.Helper()
	h, err := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT", "kid": kid})
	if err != nil {
		t.Fatal(err)
	}
	p, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	signing := b64(h) + "." + b64(p)
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return signing + "." + b64(sig)
}

// ServiceAccountClaims are the claims of a service account's ID token for
// audience, as the metadata server mints it (Cloud Run's own identity),
// as Pub/Sub push and Cloud Scheduler attach it, and as `gcloud auth
// print-identity-token --impersonate-service-account=SA --audiences=URL
// --include-email` prints it: Google's issuer, the audience asked for, the
// account's numeric id as subject and authorized party, its verified
// e-mail.
func ServiceAccountClaims(email, audience string) map[string]any {
	now := time.Now()
	return map[string]any{"iss": "https://accounts.google.com", "aud": audience, "azp": "107311234567890123456",
		"sub": "107311234567890123456", "email": email, "email_verified": true, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
}

// PersonClaims are the claims of the ID token `gcloud auth
// print-identity-token` prints for a person's Google account: its audience
// and authorized party are gcloud's own OAuth client, whatever service the
// person means to call.
func PersonClaims(email string) map[string]any {
	now := time.Now()
	return map[string]any{"iss": "https://accounts.google.com", "aud": GcloudClientID, "azp": GcloudClientID,
		"sub": "104981234567890123456", "email": email, "email_verified": true, "at_hash": "w3Jm2nXh0j7RT0sHkQmJ5A",
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
}

// ServiceAccountToken is a service account's token for audience.
func (i *Issuer) ServiceAccountToken(t testing.TB, email, audience string) string {
	return i.Sign(t, ServiceAccountClaims(email, audience))
}

// PersonToken is a person's token from gcloud.
func (i *Issuer) PersonToken(t testing.TB, email string) string {
	return i.Sign(t, PersonClaims(email))
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
