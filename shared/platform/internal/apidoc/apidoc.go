// Package apidoc is the HTTP API of the three services as one OpenAPI 3.1
// document (openapi.yaml, beside this file): the contract's §2 in a form
// clients are generated from and the end-to-end tests check every request
// and response against. Each operation is tagged with the service that
// serves it, and each service serves only its own part.
package apidoc

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
)

//go:embed openapi.yaml
var source []byte

// Load parses and validates the whole document.
func Load(ctx context.Context) (*openapi3.T, error) {
	doc, err := openapi3.NewLoader().LoadFromData(source)
	if err != nil {
		return nil, fmt.Errorf("apidoc: parse openapi.yaml: %w", err)
	}
	if err := doc.Validate(ctx); err != nil {
		return nil, fmt.Errorf("apidoc: openapi.yaml is not a valid OpenAPI document: %w", err)
	}
	return doc, nil
}

// For returns, as JSON, the part of the document that service serves: its
// operations, its tag and its local server.
func For(ctx context.Context, service string) ([]byte, error) {
	doc, err := Load(ctx)
	if err != nil {
		return nil, err
	}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if !slices.Contains(op.Tags, service) {
				item.SetOperation(method, nil)
			}
		}
		if len(item.Operations()) == 0 {
			doc.Paths.Delete(path)
		}
	}
	if doc.Paths.Len() == 0 {
		return nil, fmt.Errorf("apidoc: no operation is tagged %q", service)
	}
	doc.Tags = slices.DeleteFunc(doc.Tags, func(t *openapi3.Tag) bool { return t.Name != service })
	doc.Servers = slices.DeleteFunc(doc.Servers, func(s *openapi3.Server) bool { return !strings.HasPrefix(s.Description, service) })
	return json.Marshal(doc)
}

// Handler serves service's part of the document at GET /openapi.json.
func Handler(ctx context.Context, service string) (http.Handler, error) {
	body, err := For(ctx, service)
	if err != nil {
		return nil, err
	}
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		_, _ = w.Write(body)
	}), nil
}
