// Package pages serves order-service's two web pages, embedded: the shop
// for buyers at / and the operator page at /ops. Plain HTML, CSS and
// JavaScript with no build step and nothing fetched from elsewhere: the
// pages talk to this service's API and to the sign-in service only (Firebase
// Authentication's REST API, or the Auth emulator locally), and the Content
// Security Policy holds them to that.
package pages

import (
	"embed"
	"encoding/json"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
)

//go:embed static
var static embed.FS

// Config is what the pages need to sign users in.
type Config struct {
	// AuthURL and TokenURL are the bases of the Identity Toolkit and
	// Secure Token REST APIs (.../v1): Google's, or the Auth emulator's.
	AuthURL, TokenURL string
	// APIKey is the Firebase web API key (public by design: it names the
	// project, it grants nothing). The emulator takes any.
	APIKey string
	// OpsOpen: the operator page needs no sign-in (the local emulators).
	OpsOpen bool
	// DemoEmail and DemoPassword prefill the sign-in form with the test
	// buyer of `make run` (the emulators only).
	DemoEmail, DemoPassword string
}

// configJSON is GET /pages/config.json.
type configJSON struct {
	AuthURL      string `json:"auth_url"`
	TokenURL     string `json:"token_url"`
	APIKey       string `json:"api_key"`
	OpsOpen      bool   `json:"ops_open"`
	DemoEmail    string `json:"demo_email,omitempty"`
	DemoPassword string `json:"demo_password,omitempty"`
}

// assets are the files under /assets/: these and nothing else (no listing).
var assets = map[string]bool{"app.css": true, "common.js": true, "shop.js": true, "ops.js": true}

// Handler serves the pages, their assets and their configuration.
func Handler(cfg Config) http.Handler {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	conf, err := json.Marshal(configJSON(cfg))
	if err != nil {
		panic(err)
	}
	csp := policy(cfg)
	secure := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Security-Policy", csp)
			w.Header().Set("X-Content-Type-Options", "nosniff")
			// The origin only: a Firebase web API key restricted to the
			// shop's site checks it on sign-in.
			w.Header().Set("Referrer-Policy", "strict-origin-when-cross-origin")
			w.Header().Set("Cache-Control", "no-cache")
			h.ServeHTTP(w, r)
		})
	}
	file := func(name string) http.Handler {
		return secure(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.ServeFileFS(w, r, sub, name)
		}))
	}
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", file("index.html"))
	mux.Handle("GET /ops", file("ops.html"))
	mux.Handle("GET /assets/{file}", secure(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("file")
		if !assets[name] {
			http.NotFound(w, r)
			return
		}
		http.ServeFileFS(w, r, sub, name)
	})))
	mux.Handle("GET /pages/config.json", secure(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(conf)
	})))
	return mux
}

// policy allows the page's own origin, and the sign-in service for
// fetches: no other host, no inline script, no framing.
func policy(cfg Config) string {
	connect := []string{"'self'"}
	for _, u := range []string{cfg.AuthURL, cfg.TokenURL} {
		if p, err := url.Parse(u); err == nil && p.Host != "" {
			connect = append(connect, p.Scheme+"://"+p.Host)
		}
	}
	return "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src " + strings.Join(connect, " ") +
		"; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
}
