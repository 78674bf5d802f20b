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
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"google.golang.org/api/idtoken"

	"github.com/ticketsaga/saga/shared/httpjson"
)

// Verifier checks tokens for one audience and a set of identities.
type Verifier struct {
	Audience   string
	Identities map[string]bool // e-mails of the service accounts or people allowed
	Validator  *idtoken.Validator
	Log        *slog.Logger
}

// New returns a verifier of tokens for audience from one of identities,
// using Google's published keys.
func New(ctx context.Context, audience string, identities []string, log *slog.Logger, opts ...idtoken.ClientOption) (*Verifier, error) {
	v, err := idtoken.NewValidator(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("OIDC validator: %w", err)
	}
	ids := map[string]bool{}
	for _, id := range identities {
		ids[id] = true
	}
	return &Verifier{Audience: audience, Identities: ids, Validator: v, Log: log}, nil
}

// Check returns why r is not from the expected caller, or nil.
func (v *Verifier) Check(r *http.Request) error {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || token == "" {
		return fmt.Errorf("no bearer token")
	}
	p, err := v.Validator.Validate(r.Context(), token, v.Audience)
	if err != nil {
		return err
	}
	if p.Issuer != "accounts.google.com" && p.Issuer != "https://accounts.google.com" {
		return fmt.Errorf("issuer %q is not Google", p.Issuer)
	}
	if email, _ := p.Claims["email"].(string); !v.Identities[email] {
		return fmt.Errorf("token is for %q, who is not allowed here", email)
	}
	if verified, _ := p.Claims["email_verified"].(bool); !verified {
		return fmt.Errorf("email not verified")
	}
	return nil
}

// Require wraps h: requests without a valid token get 401.
func (v *Verifier) Require(h http.Handler) http.Handler {
	if v == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := v.Check(r); err != nil {
			v.Log.WarnContext(r.Context(), "rejected an unauthenticated request", "path", r.URL.Path, "error", err.Error())
			w.Header().Set("WWW-Authenticate", "Bearer")
			httpjson.Write(w, http.StatusUnauthorized, httpjson.Failure("unauthenticated", "a Google-signed ID token of an allowed identity is required"))
			return
		}
		h.ServeHTTP(w, r)
	})
}
