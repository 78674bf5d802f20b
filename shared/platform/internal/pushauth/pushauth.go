// Package pushauth verifies the Google-signed OIDC ID token that Pub/Sub push
// and Cloud Scheduler attach to their requests, and that operators and
// order-service attach to the admin and read API of point- and
// ticket-service: signed by Google, for our audience, from one of the
// expected identities. Cloud Run's IAM check already keeps strangers away
// from private services; this is the in-app check for a public service
// (order-service) and defense in depth for the others. The emulator sends
// no token, so locally it is off (config fails closed everywhere else).
package pushauth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"google.golang.org/api/idtoken"

	"github.com/ticketsaga/saga/shared/platform/httpjson"
)

// Verifier checks tokens for one audience and a set of identities.
type Verifier struct {
	Audience string
	// Identities may call every method; Readers only GET and HEAD (a
	// reader's write is 403). E-mails of service accounts.
	Identities map[string]bool
	Readers    map[string]bool
	// Hint, when set, ends the 401's message: how an allowed caller gets a
	// token for this audience.
	Hint      string
	Validator *idtoken.Validator
	Log       *slog.Logger
}

// New returns a verifier of tokens for audience from one of identities,
// using Google's published keys (opts: how they are fetched).
func New(ctx context.Context, audience string, identities []string, log *slog.Logger, opts ...idtoken.ClientOption) (*Verifier, error) {
	v, err := idtoken.NewValidator(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("OIDC validator: %w", err)
	}
	return &Verifier{Audience: audience, Identities: set(identities), Readers: map[string]bool{}, Validator: v, Log: log}, nil
}

func set(items []string) map[string]bool {
	out := map[string]bool{}
	for _, s := range items {
		out[s] = true
	}
	return out
}

// ErrReadOnly is Check's answer to a reader's write.
var ErrReadOnly = errors.New("this identity may read here, not write")

// Check returns why r is not from an allowed caller (ErrReadOnly for a
// reader's write), or nil.
func (v *Verifier) Check(r *http.Request) error {
	email, err := v.identify(r)
	if err != nil {
		return err
	}
	switch {
	case v.Identities[email]:
		return nil
	case v.Readers[email] && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		return nil
	case v.Readers[email]:
		return fmt.Errorf("%s %s by %s: %w", r.Method, r.URL.Path, email, ErrReadOnly)
	}
	return fmt.Errorf("token is for %q, who is not allowed here", email)
}

// identify returns the verified e-mail of the request's Google-signed
// token for the audience.
func (v *Verifier) identify(r *http.Request) (string, error) {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || token == "" {
		return "", fmt.Errorf("no bearer token")
	}
	p, err := v.Validator.Validate(r.Context(), token, v.Audience)
	if err != nil {
		// Say which audience it had: an operator's own token from gcloud
		// carries gcloud's, and the fix is another command.
		if u, perr := idtoken.ParsePayload(token); perr == nil && u.Audience != v.Audience {
			return "", fmt.Errorf("token's audience is %q, not %q (unverified claims: e-mail %v): %w", u.Audience, v.Audience, u.Claims["email"], err)
		}
		return "", err
	}
	if p.Issuer != "accounts.google.com" && p.Issuer != "https://accounts.google.com" {
		return "", fmt.Errorf("issuer %q is not Google", p.Issuer)
	}
	email, _ := p.Claims["email"].(string)
	if verified, _ := p.Claims["email_verified"].(bool); !verified || email == "" {
		return "", fmt.Errorf("token has no verified e-mail")
	}
	return email, nil
}

// Require wraps h: requests without a valid token from an allowed caller
// get 401, a reader's write 403.
func (v *Verifier) Require(h http.Handler) http.Handler {
	if v == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := v.Check(r)
		switch {
		case err == nil:
			h.ServeHTTP(w, r)
		case errors.Is(err, ErrReadOnly):
			v.Log.WarnContext(r.Context(), "refused a write by a reader", "path", r.URL.Path, "method", r.Method, "error", err.Error())
			httpjson.Write(w, http.StatusForbidden, httpjson.Failure("forbidden", "this identity may read here, not write"))
		default:
			v.Log.WarnContext(r.Context(), "rejected an unauthenticated request", "path", r.URL.Path, "error", err.Error())
			w.Header().Set("WWW-Authenticate", "Bearer")
			msg := "a Google-signed ID token of an allowed identity is required"
			if v.Hint != "" {
				msg += ": " + v.Hint
			}
			httpjson.Write(w, http.StatusUnauthorized, httpjson.Failure("unauthenticated", msg))
		}
	})
}
