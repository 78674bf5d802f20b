package pushfilter_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/ticketsaga/saga/infra"
	"github.com/ticketsaga/saga/shared/saga"
	"github.com/ticketsaga/saga/tools/pushfilter"
)

func TestRelay(t *testing.T) {
	t.Parallel()
	decl, err := infra.Load()
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []string // service + event type, as the services saw them
	service := func(name string) *httptest.Server {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var b struct {
				Message struct{ Attributes map[string]string } `json:"message"`
			}
			_ = json.NewDecoder(r.Body).Decode(&b)
			mu.Lock()
			got = append(got, name+" "+b.Message.Attributes[saga.AttrEventType])
			mu.Unlock()
			w.WriteHeader(http.StatusTeapot) // whatever the service answers goes back
		}))
		t.Cleanup(srv.Close)
		return srv
	}
	down := service(saga.TicketService)
	down.Close() // ticket-service refuses connections
	base := map[string]string{saga.OrderService: service(saga.OrderService).URL, saga.PointService: service(saga.PointService).URL,
		saga.TicketService: down.URL}
	relay, err := pushfilter.New(decl, base)
	if err != nil {
		t.Fatal(err)
	}
	defer relay.Close()
	srv := httptest.NewServer(relay)
	defer srv.Close()
	endpoints := pushfilter.Endpoints(decl, srv.URL)

	push := func(sub string, attrs map[string]string) int {
		t.Helper()
		body, _ := json.Marshal(map[string]any{"message": map[string]any{"data": "e30=", "attributes": attrs, "messageId": "1"}})
		res, err := http.Post(endpoints[sub], "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}
	for _, c := range []struct {
		sub   string
		attrs map[string]string
		want  int
	}{
		{"point-events", map[string]string{saga.AttrEventType: string(saga.StartedOrder)}, http.StatusTeapot},
		{"point-events", map[string]string{saga.AttrEventType: string(saga.GrantedTicket)}, http.StatusNoContent},
		{"order-events", map[string]string{saga.AttrEventType: string(saga.GrantedTicket)}, http.StatusTeapot},
		{"order-events", map[string]string{saga.AttrEventType: string(saga.GrantedTicket), saga.AttrRedriveTo: "point-events"}, http.StatusNoContent},
		{"point-events", map[string]string{saga.AttrEventType: string(saga.GrantedTicket), saga.AttrRedriveTo: "point-events"}, http.StatusTeapot},
		{"order-events", map[string]string{saga.AttrEventType: string(saga.GrantedTicket), saga.AttrReplay: "1"}, http.StatusTeapot},
		{"ticket-events", map[string]string{saga.AttrEventType: string(saga.ConsumedPoint)}, http.StatusBadGateway},
		{"ticket-events", map[string]string{saga.AttrEventType: string(saga.StartedOrder)}, http.StatusNoContent},
	} {
		if code := push(c.sub, c.attrs); code != c.want {
			t.Errorf("push to %s of %v: %d, want %d", c.sub, c.attrs, code, c.want)
		}
	}
	want := []string{"point-service started-order", "order-service granted-ticket", "point-service granted-ticket", "order-service granted-ticket"}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != len(want) {
		t.Fatalf("the services saw %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("the services saw %q, want %q", got, want)
		}
	}
	// Every push let through counts, the one to the service that is
	// down too; of them one replay.
	if st := relay.Stats(); st != (pushfilter.Stats{Forwarded: 5, Replays: 1}) {
		t.Errorf("stats %+v, want 5 forwarded, 1 replay", st)
	}
	res, err := http.Post(srv.URL+"/nobody-events", "application/json", bytes.NewReader([]byte("{}")))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound {
		t.Errorf("push to an undeclared subscription: %d, want 404", res.StatusCode)
	}
}
