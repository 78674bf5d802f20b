// Package buyers authenticates buyers: a Firebase Authentication (Identity
// Platform) ID token in `Authorization: Bearer`, verified with the Firebase
// Admin SDK. The token's uid is the buyer's user id (docs/contract.md, HTTP API).
package buyers

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	firebase "firebase.google.com/go/v4"
	"firebase.google.com/go/v4/auth"
	"firebase.google.com/go/v4/errorutils"
	"golang.org/x/sync/singleflight"

	"github.com/ticketsaga/saga/shared/saga"
)

// unauthenticated is the error of a request without a valid token
// (missing, malformed, expired, revoked, a disabled or deleted user): the
// caller's to fix, 401.
func unauthenticated(why string, cause error) error {
	e := saga.E(saga.Unauthenticated, "unauthenticated", "a valid Firebase ID token is required: Authorization: Bearer <ID token>")
	e.Err = fmt.Errorf("%s: %v", why, cause)
	return e
}

// Verifier verifies buyers' ID tokens.
type Verifier struct {
	client   *auth.Client
	emulator bool
	// verify checks a token's signature, audience and expiry
	// (client.VerifyIDToken).
	verify func(ctx context.Context, token string) (*auth.Token, error)
	// CheckEvery is how long a verified token, and a user's disabled flag
	// and revocation time, are trusted before they are checked again: a
	// user record costs a call to Identity Platform (against the emulator
	// the Admin SDK makes it on every verification itself). So a disabled
	// user or a revoked token is refused within CheckEvery.
	CheckEvery time.Duration

	mu     sync.Mutex
	users  map[string]userRecord
	tokens map[[32]byte]verified
	flight singleflight.Group
}

// verified is a token already verified, trusted until until: a buyer
// long-polling or ordering again with the same token costs no second
// verification (and, against the emulator, no second user lookup).
type verified struct {
	uid   string
	until time.Time
}

type userRecord struct {
	disabled   bool
	validAfter int64 // ms: tokens issued before are revoked
	checked    time.Time
}

// maxUsers bounds the cache of user records.
const maxUsers = 100_000

// New returns a verifier of ID tokens of the Firebase project. With
// emulator set (FIREBASE_AUTH_EMULATOR_HOST, which the SDK reads) it talks
// to the Auth emulator, whose tokens are not signed.
func New(ctx context.Context, project string, emulator bool) (*Verifier, error) {
	app, err := firebase.NewApp(ctx, &firebase.Config{ProjectID: project})
	if err != nil {
		return nil, fmt.Errorf("firebase app for %s: %w", project, err)
	}
	client, err := app.Auth(ctx)
	if err != nil {
		return nil, fmt.Errorf("firebase auth for %s: %w", project, err)
	}
	return &Verifier{client: client, emulator: emulator, verify: client.VerifyIDToken, CheckEvery: 30 * time.Second,
		users: map[string]userRecord{}, tokens: map[[32]byte]verified{}}, nil
}

// Authenticate returns the uid of the request's bearer token, a
// saga.Unauthenticated error, or another error when the token could not be
// checked (Identity Platform unreachable: a fault).
func (v *Verifier) Authenticate(ctx context.Context, r *http.Request) (string, error) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return "", unauthenticated("no bearer token", nil)
	}
	token = strings.TrimSpace(token)
	key := sha256.Sum256([]byte(token))
	v.mu.Lock()
	hit, ok := v.tokens[key]
	v.mu.Unlock()
	if ok && time.Now().Before(hit.until) {
		return hit.uid, nil
	}
	// Concurrent requests with one token (a burst of long-polls) verify
	// it once, on a context of its own: one caller hanging up must not
	// fail the others waiting on the same verification. Each caller still
	// leaves when its own context ends.
	res := v.flight.DoChan(string(key[:]), func() (any, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), verifyTimeout)
		defer cancel()
		return v.verifyAndCache(ctx, key, token)
	})
	select {
	case r := <-res:
		if r.Err != nil {
			return "", r.Err
		}
		return r.Val.(string), nil
	case <-ctx.Done():
		return "", fmt.Errorf("verify ID token: %w", ctx.Err())
	}
}

// verifyTimeout bounds one verification (Identity Platform's keys and a
// user record).
const verifyTimeout = 10 * time.Second

// verifyAndCache verifies token and remembers its uid for CheckEvery.
func (v *Verifier) verifyAndCache(ctx context.Context, key [32]byte, token string) (string, error) {
	tok, err := v.verify(ctx, token)
	if err != nil {
		return "", classify(err)
	}
	if !v.emulator {
		if err := v.checkUser(ctx, tok); err != nil {
			return "", err
		}
	}
	until := time.Now().Add(v.CheckEvery)
	if exp := time.Unix(tok.Expires, 0); exp.Before(until) {
		until = exp
	}
	v.mu.Lock()
	if len(v.tokens) >= maxUsers {
		clear(v.tokens)
	}
	v.tokens[key] = verified{uid: tok.UID, until: until}
	v.mu.Unlock()
	return tok.UID, nil
}

// checkUser rejects the token of a disabled user, or one issued before the
// user's tokens were revoked, from a record at most CheckEvery old.
func (v *Verifier) checkUser(ctx context.Context, tok *auth.Token) error {
	v.mu.Lock()
	rec, ok := v.users[tok.UID]
	v.mu.Unlock()
	if !ok || time.Since(rec.checked) > v.CheckEvery {
		u, err := v.client.GetUser(ctx, tok.UID)
		if err != nil {
			return classify(err)
		}
		rec = userRecord{disabled: u.Disabled, validAfter: u.TokensValidAfterMillis, checked: time.Now()}
		v.mu.Lock()
		if len(v.users) >= maxUsers {
			clear(v.users)
		}
		v.users[tok.UID] = rec
		v.mu.Unlock()
	}
	switch {
	case rec.disabled:
		return unauthenticated("user disabled", nil)
	case tok.IssuedAt*1000 < rec.validAfter:
		return unauthenticated("token revoked", nil)
	}
	return nil
}

// classify tells a token the caller must replace from a failure to check
// it.
func classify(err error) error {
	if errorutils.IsInvalidArgument(err) || errorutils.IsNotFound(err) || errorutils.IsUnauthenticated(err) {
		return unauthenticated("invalid token", err)
	}
	return fmt.Errorf("verify ID token: %w", err)
}
