// Package pushauth verifies the OIDC token Pub/Sub push (and Cloud
// Scheduler) attach to their requests: signed by Google, for our audience,
// from the expected service account. Cloud Run's IAM check already keeps
// strangers away from private services; this is the in-app check for a
// public service (order-service) and defense in depth for the others. The
// emulator sends no token, so it is off unless configured.
package pushauth

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"google.golang.org/api/idtoken"
)

// Verifier checks tokens for one audience and one service account.
type Verifier struct {
	Audience       string
	ServiceAccount string
	Validator      *idtoken.Validator
	Log            *slog.Logger
}

// New returns a verifier using Google's published keys.
func New(ctx context.Context, audience, serviceAccount string, log *slog.Logger, opts ...idtoken.ClientOption) (*Verifier, error) {
	v, err := idtoken.NewValidator(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("OIDC validator: %w", err)
	}
	return &Verifier{Audience: audience, ServiceAccount: serviceAccount, Validator: v, Log: log}, nil
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
	if email, _ := p.Claims["email"].(string); email != v.ServiceAccount {
		return fmt.Errorf("token is for %q, not %q", email, v.ServiceAccount)
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
			v.Log.WarnContext(r.Context(), "rejected an unauthenticated push or task request", "path", r.URL.Path, "error", err.Error())
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprintln(w, `{"error":{"code":"unauthenticated","message":"a valid OIDC token from the expected service account is required"}}`)
			return
		}
		h.ServeHTTP(w, r)
	})
}
