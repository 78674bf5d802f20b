package apidoc

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/ticketsaga/saga/shared/saga"
)

func TestDocumentIsValid(t *testing.T) {
	t.Parallel()
	doc, err := Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !doc.IsOpenAPI31OrLater() {
		t.Fatalf("openapi %s, want 3.1", doc.OpenAPI)
	}
}

// Each service serves its own operations and no one else's.
func TestEachServiceServesItsPart(t *testing.T) {
	t.Parallel()
	want := map[string][]string{
		saga.OrderService:  {"/orders", "/orders/{order_id}", "/tasks/sweep", "/tasks/reconcile"},
		saga.PointService:  {"/accounts/{user_id}"},
		saga.TicketService: {"/tickets/{ticket_id}", "/users/{user_id}/tickets"},
	}
	notWant := map[string][]string{
		saga.OrderService:  {"/accounts/{user_id}", "/tickets/{ticket_id}"},
		saga.PointService:  {"/orders", "/tickets/{ticket_id}", "/tasks/sweep"},
		saga.TicketService: {"/orders", "/accounts/{user_id}", "/tasks/reconcile"},
	}
	for svc, paths := range want {
		raw, err := For(context.Background(), svc)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			OpenAPI string                     `json:"openapi"`
			Paths   map[string]json.RawMessage `json:"paths"`
			Tags    []struct{ Name string }    `json:"tags"`
			Servers []struct{ URL string }     `json:"servers"`
		}
		if err := json.Unmarshal(raw, &doc); err != nil {
			t.Fatal(err)
		}
		for _, p := range append(paths, "/healthz", "/push/events", "/openapi.json") {
			if _, ok := doc.Paths[p]; !ok {
				t.Errorf("%s: %s missing", svc, p)
			}
		}
		for _, p := range notWant[svc] {
			if _, ok := doc.Paths[p]; ok {
				t.Errorf("%s serves %s, which is another service's", svc, p)
			}
		}
		if len(doc.Tags) != 1 || doc.Tags[0].Name != svc || len(doc.Servers) != 1 || doc.OpenAPI != "3.1.0" {
			t.Errorf("%s: openapi %q, tags %v, servers %v", svc, doc.OpenAPI, doc.Tags, doc.Servers)
		}
	}
}
