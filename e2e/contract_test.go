package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/ticketsaga/saga/shared/platform/kit"
	"github.com/ticketsaga/saga/shared/saga"
)

// apiContract sits in every HTTP client of the suite and checks each
// exchange with a stack's services against the OpenAPI document
// (shared/platform/internal/apidoc): the document cannot drift from what the services do.
//
//   - A request the document accepts may get any response the document
//     lists for it, and that response must match its schema, headers
//     included: an undocumented status, field or error shape fails.
//   - A request the document forbids (the hostile-input tests send many)
//     must be refused with a 4xx, whose body must match too: a service
//     that accepts what its document forbids fails.
//   - A path or method the document does not list on that service must
//     be answered 404 or 405.
//   - A push endpoint (x-acks-poison) acks a push it can never process,
//     so there a forbidden request may get a 2xx.
//
// A violation fails the request (the caller sees the error) and is kept,
// so that TestMain fails the run even when a caller retries or ignores
// errors.
type apiContract struct {
	router routers.Router

	mu       sync.Mutex
	services map[string]string // host:port -> service name
	broken   []string
	checked  atomic.Int64
}

var contract *apiContract

func newAPIContract() (*apiContract, error) {
	// The pages and their assets are text: checked for their status,
	// content type and headers, their bodies as plain strings.
	for _, ct := range []string{"text/html", "text/css", "text/javascript"} {
		openapi3filter.RegisterBodyDecoder(ct, openapi3filter.PlainBodyDecoder)
	}
	doc, err := kit.APIDocument(context.Background())
	if err != nil {
		return nil, err
	}
	// The stacks' services listen on free ports: routes match on the path,
	// and serve() says which service a host is.
	doc.Servers = nil
	router, err := legacy.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("route the API document: %w", err)
	}
	return &apiContract{router: router, services: map[string]string{}}, nil
}

// over returns a transport that checks each exchange with a service, then
// sends it with base.
func (c *apiContract) over(base http.RoundTripper) http.RoundTripper {
	return contractTransport{c, base}
}

type contractTransport struct {
	c    *apiContract
	base http.RoundTripper
}

// serve says that the service named service listens at baseURL.
func (c *apiContract) serve(service, baseURL string) {
	u, err := url.Parse(baseURL)
	if err != nil {
		panic(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.services[u.Host] = service
}

// violations returns what broke the contract so far.
func (c *apiContract) violations() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.broken)
}

func (t contractTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	c := t.c
	c.mu.Lock()
	service, ours := c.services[req.URL.Host]
	c.mu.Unlock()
	if !ours {
		return t.base.RoundTrip(req)
	}
	var body []byte
	if req.Body != nil {
		var err error
		if body, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		_ = req.Body.Close()
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	ctx := req.Context()
	// Route and check a copy, on the escaped path as the services' muxes
	// do: "a%2Fb" is one (invalid) id, not two segments.
	check := req.Clone(ctx)
	check.URL.Path, check.URL.RawPath = req.URL.EscapedPath(), ""
	check.Body = io.NopCloser(bytes.NewReader(body))
	route, params, routeErr := c.router.FindRoute(check)
	if routeErr == nil && !slices.Contains(route.Operation.Tags, service) {
		routeErr = fmt.Errorf("%s serves no %s %s", service, route.Method, route.Path)
	}
	var in *openapi3filter.RequestValidationInput
	var reqErr error
	if routeErr == nil {
		in = &openapi3filter.RequestValidationInput{Request: check, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: bearerPresent}}
		reqErr = openapi3filter.ValidateRequest(ctx, in)
	}

	res, err := t.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	raw, err := io.ReadAll(res.Body)
	_ = res.Body.Close()
	if err != nil {
		return nil, err
	}
	res.Body = io.NopCloser(bytes.NewReader(raw))
	c.checked.Add(1)

	var problem string
	switch {
	case routeErr != nil:
		if res.StatusCode != http.StatusNotFound && res.StatusCode != http.StatusMethodNotAllowed {
			problem = fmt.Sprintf("not in the document (%v), yet answered %d", routeErr, res.StatusCode)
		}
	case reqErr != nil && route.Operation.Extensions["x-acks-poison"] == true && res.StatusCode/100 == 2:
		// A push that can never be processed is acked, not refused
		// (docs/contract.md, HTTP API): the document says so with x-acks-poison.
	case reqErr != nil && (res.StatusCode < 400 || res.StatusCode >= 500):
		problem = fmt.Sprintf("the document forbids this request (%s), yet it was answered %d", firstLine(reqErr), res.StatusCode)
	}
	if problem == "" && routeErr == nil {
		out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: res.StatusCode, Header: res.Header,
			Body: io.NopCloser(bytes.NewReader(raw)), Options: &openapi3filter.Options{IncludeResponseStatus: true}}
		if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
			problem = fmt.Sprintf("response %d does not match the document: %s (body %.300s)", res.StatusCode, firstLine(err), raw)
		}
	}
	if problem == "" {
		return res, nil
	}
	problem = fmt.Sprintf("%s %s %s: %s", service, req.Method, req.URL.RequestURI(), problem)
	c.mu.Lock()
	c.broken = append(c.broken, problem)
	c.mu.Unlock()
	return nil, errors.New("API contract: " + problem)
}

// bearerPresent checks what the document can say about a bearer token: that
// one is sent. Whether it is valid is the service's to answer (401).
func bearerPresent(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	if in.SecurityScheme.Type == "http" && in.SecurityScheme.Scheme == "bearer" {
		if !strings.HasPrefix(in.RequestValidationInput.Request.Header.Get("Authorization"), "Bearer ") {
			return errors.New("no bearer token")
		}
		return nil
	}
	return fmt.Errorf("security scheme %s not checked here", in.SecuritySchemeName)
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}

// TestEachServiceServesItsAPIDocument: GET /openapi.json on each service is
// its own part of the document, and an exchange the document does not allow
// is caught (the checker itself can fail).
func TestEachServiceServesItsAPIDocument(t *testing.T) {
	t.Parallel()
	s := stack
	for name, base := range map[string]string{saga.OrderService: s.order, saga.PointService: s.point, saga.TicketService: s.ticket} {
		r := do(t, "GET", base+"/openapi.json", nil)
		mustStatus(t, r, http.StatusOK)
		info, _ := r.Body["info"].(map[string]any)
		paths, _ := r.Body["paths"].(map[string]any)
		if r.Body["openapi"] != "3.1.0" || info["title"] == nil || paths["/healthz"] == nil {
			t.Errorf("%s: /openapi.json is not its API document: %.200s", name, r.Raw)
		}
		tags, _ := r.Body["tags"].([]any)
		if len(tags) != 1 || tags[0].(map[string]any)["name"] != name {
			t.Errorf("%s: tags %v, want only its own", name, tags)
		}
	}

	// The checker refuses what the document does not allow: a response
	// field nobody documented.
	check, err := newAPIContract()
	if err != nil {
		t.Fatal(err)
	}
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"user_id":"u1","balance":5,"secret":"leaked"}`))
	}))
	defer fake.Close()
	check.serve(saga.PointService, fake.URL)
	res, err := (&http.Client{Transport: check.over(http.DefaultTransport)}).Get(fake.URL + "/accounts/u1")
	if err == nil {
		res.Body.Close()
		t.Fatal("an undocumented field passed the API contract check")
	}
	if !strings.Contains(err.Error(), "does not match the document") || len(check.violations()) != 1 {
		t.Errorf("checker: %v, violations %v", err, check.violations())
	}
}
