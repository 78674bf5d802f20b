// Package pushfilter gives the local stack what the Pub/Sub emulator lacks:
// subscription filters. The emulator pushes every event of the topic to
// every push subscription; Pub/Sub delivers only what a subscription's
// filter lets through and acknowledges the rest itself. Locally each
// subscription pushes to this relay instead, which applies the declared
// filter (infra.Subscription.Matches), answers 204 for the rest as Pub/Sub
// would, and forwards the others to the service's push endpoint.
//
// Two things follow. A route declared in code but not in infra/pubsub.json
// now fails the local tests as it would fail in production. And the
// services' CPU no longer includes pushes that production never sends
// (6 of 9 per saga); the relay's own CPU counts with the emulators'.
// Like the frontend in front of Cloud Run, it keeps its connections to the
// services open between pushes, and spreads a subscription's pushes over
// the instances of its service, one after the other.
package pushfilter

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ticketsaga/saga/infra"
	"github.com/ticketsaga/saga/shared/push"
	"github.com/ticketsaga/saga/shared/saga"
)

// maxBody bounds what the relay reads: one byte past what a service takes,
// so that a push too large is still too large when forwarded, and refused
// by the service as it would be.
const maxBody = push.MaxBody + 1

// Relay is the filtering relay for one stack.
type Relay struct {
	routes    map[string]route // by subscription name
	transport *http.Transport
	forwarded atomic.Int64
	replays   atomic.Int64
}

// Stats is what the relay forwarded: every push production would deliver,
// and of those, the replays (saga.AttrReplay).
type Stats struct {
	Forwarded int64 `json:"forwarded"`
	Replays   int64 `json:"replays"`
}

// Stats returns what the relay forwarded so far.
func (r *Relay) Stats() Stats { return Stats{Forwarded: r.forwarded.Load(), Replays: r.replays.Load()} }

type route struct {
	sub   infra.Subscription
	proxy *httputil.ReverseProxy
}

// New builds the relay for the declared subscriptions, forwarding to
// baseURL[service] + push_path.
func New(decl infra.PubSub, baseURL map[string]string) (*Relay, error) {
	instances := map[string][]string{}
	for svc, u := range baseURL {
		instances[svc] = []string{u}
	}
	return NewSpread(decl, instances)
}

// NewSpread builds the relay for the declared subscriptions, forwarding
// each push to the next of instances[service] (base URLs) + push_path.
func NewSpread(decl infra.PubSub, instances map[string][]string) (*Relay, error) {
	// Idle connections are dropped before the services drop them (their
	// IdleTimeout is 30 s), so that a push never meets a closing one.
	r := &Relay{routes: map[string]route{}, transport: &http.Transport{MaxIdleConns: 512, MaxIdleConnsPerHost: 128,
		IdleConnTimeout: 20 * time.Second, DisableCompression: true}}
	for _, s := range decl.Subscriptions {
		bases := instances[s.Service]
		if len(bases) == 0 {
			return nil, fmt.Errorf("pushfilter: subscription %s: no URL for %s", s.Name, s.Service)
		}
		var targets []*url.URL
		for _, base := range bases {
			target, err := url.Parse(base + s.PushPath)
			if err != nil {
				return nil, fmt.Errorf("pushfilter: subscription %s: %w", s.Name, err)
			}
			targets = append(targets, target)
		}
		next := new(atomic.Uint64)
		r.routes[s.Name] = route{sub: s, proxy: &httputil.ReverseProxy{
			Rewrite: func(pr *httputil.ProxyRequest) {
				target := targets[(next.Add(1)-1)%uint64(len(targets))]
				u := *target
				pr.Out.URL, pr.Out.Host = &u, target.Host
			},
			Transport: r.transport,
			// A service that is down is a failed push (502), as in
			// production; that is what the fault drills do.
			ErrorLog: log.New(io.Discard, "", 0),
		}}
	}
	return r, nil
}

// Endpoints are the push endpoints to give the subscriptions when the
// relay serves at relayURL: one path per subscription.
func Endpoints(decl infra.PubSub, relayURL string) map[string]string {
	out := map[string]string{}
	for _, s := range decl.Subscriptions {
		out[s.Name] = strings.TrimSuffix(relayURL, "/") + "/" + s.Name
	}
	return out
}

// ServeHTTP takes one push of the emulator.
func (r *Relay) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	rt, ok := r.routes[strings.TrimPrefix(req.URL.Path, "/")]
	if !ok || req.Method != http.MethodPost {
		http.NotFound(w, req)
		return
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, maxBody))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	// A push the relay cannot read goes to the service, whose answer to
	// garbage is what the tests check.
	var head struct {
		Message struct {
			Attributes map[string]string `json:"attributes"`
		} `json:"message"`
	}
	if json.Unmarshal(body, &head) == nil && !rt.sub.Matches(head.Message.Attributes) {
		w.WriteHeader(http.StatusNoContent) // filtered out: Pub/Sub acknowledges it
		return
	}
	r.forwarded.Add(1)
	if head.Message.Attributes[saga.AttrReplay] != "" {
		r.replays.Add(1)
	}
	req.Body, req.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	// The body can be sent again should a kept-alive connection close
	// under the request.
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	rt.proxy.ServeHTTP(w, req)
}

// Close drops the relay's idle connections.
func (r *Relay) Close() { r.transport.CloseIdleConnections() }
