package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ticketsaga/saga/order-service/internal/app"
	"github.com/ticketsaga/saga/order-service/internal/longpoll"
	"github.com/ticketsaga/saga/order-service/internal/order"
	"github.com/ticketsaga/saga/shared/event"
	"github.com/ticketsaga/saga/shared/saga"
)

// memStore is an in-memory app.Store: the handlers are tested without
// Firestore.
type memStore struct {
	mu     sync.Mutex
	orders map[string]order.Order
	prints map[string]string
	fail   error // every call fails with it, when set
}

func (m *memStore) Create(_ context.Context, o order.Order, fingerprint string, _ event.Message) (app.Placed, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return app.Placed{}, m.fail
	}
	if have, ok := m.orders[o.ID]; ok {
		return app.Placed{Order: have, Fingerprint: m.prints[o.ID]}, nil
	}
	m.orders[o.ID], m.prints[o.ID] = o, fingerprint
	return app.Placed{Order: o, Created: true}, nil
}

func (m *memStore) Publish(context.Context, event.Message) error { return nil }

func (m *memStore) Get(_ context.Context, id string) (order.Order, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return order.Order{}, m.fail
	}
	o, ok := m.orders[id]
	if !ok {
		return order.Order{}, saga.E(saga.NotFound, "order_not_found", "no order %s", id)
	}
	return o, nil
}

func (m *memStore) Update(context.Context, string, func(order.Order) (order.Order, bool, error)) (order.Order, bool, error) {
	return order.Order{}, false, errors.New("not used here")
}

func (m *memStore) StopExpired(context.Context, time.Time, app.Stop, time.Time) (app.SweepResult, error) {
	return app.SweepResult{}, nil
}

func (m *memStore) Heal(context.Context, time.Time, app.Heal, time.Time) (app.SweepResult, error) {
	return app.SweepResult{}, nil
}

// tokens authenticates "Bearer <uid>".
type tokens struct{}

func (tokens) Authenticate(_ context.Context, r *http.Request) (string, error) {
	uid, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || uid == "" || uid == "expired" {
		return "", saga.E(saga.Unauthenticated, "unauthenticated", "a valid Firebase ID token is required")
	}
	return uid, nil
}

func newAPI(store *memStore) http.Handler {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	silent := func(ctx context.Context, id string) (<-chan longpoll.Update, func()) { return nil, func() {} }
	a := &app.App{Store: store, Log: log, Now: time.Now, Polls: &longpoll.Poller{Listen: silent, Get: store.Get}}
	return (&API{App: a, Buyers: tokens{}, Log: log, MaxLongPolls: 10}).Routes()
}

// TestStatusMapping: each answer of the order API, in the contract's
// precedence (401, then 400/413, then 403, then 422), mapped from the
// errors and orders the use cases return.
func TestStatusMapping(t *testing.T) {
	t.Parallel()
	store := &memStore{orders: map[string]order.Order{}, prints: map[string]string{}}
	now := time.Now().UTC()
	body := `{"ticket_id":"t","quantity":1,"price":100}`
	req := order.Request{UserID: "alice", TicketID: "t", Quantity: 1, Price: 100}
	for key, st := range map[string]order.Status{"done": order.StatusCompleted, "sold-out": order.StatusFailed, "stuck": order.StatusStopping} {
		id := order.IDForKey("alice", key)
		store.orders[id] = order.Order{ID: id, UserID: "alice", TicketID: "t", Quantity: 1, Price: 100, Status: st, Reason: "sold_out", CreatedAt: now}
		store.prints[id] = req.Fingerprint()
	}
	h := newAPI(store)
	for _, tc := range []struct {
		name, method, path, body string
		header                   []string
		status                   int
		code, orderStatus        string
	}{
		{"no token", "POST", "/orders", body, nil, 401, "unauthenticated", ""},
		{"no token beats a bad body", "POST", "/orders", `{`, nil, 401, "unauthenticated", ""},
		{"expired token", "GET", "/orders/x", "", []string{"Authorization", "Bearer expired"}, 401, "unauthenticated", ""},
		{"bad body", "POST", "/orders", `{`, []string{"Authorization", "Bearer alice"}, 400, "invalid_json", ""},
		{"bad wait", "POST", "/orders?wait=2m", body, []string{"Authorization", "Bearer alice"}, 400, "invalid_wait", ""},
		{"bad key", "POST", "/orders", body, []string{"Authorization", "Bearer alice", "Idempotency-Key", strings.Repeat("k", 256)}, 400, "invalid_idempotency_key", ""},
		{"bad body beats another user", "POST", "/orders", `{"user_id":"bob","quantity":0}`, []string{"Authorization", "Bearer alice"}, 400, "missing_field", ""},
		{"another user", "POST", "/orders", `{"user_id":"bob","ticket_id":"t","quantity":1,"price":100}`, []string{"Authorization", "Bearer alice"}, 403, "forbidden", ""},
		{"key reused", "POST", "/orders", `{"ticket_id":"t","quantity":2,"price":200}`, []string{"Authorization", "Bearer alice", "Idempotency-Key", "done"}, 422, "idempotency_key_reused", ""},
		{"completed", "POST", "/orders", body, []string{"Authorization", "Bearer alice", "Idempotency-Key", "done"}, 201, "", "completed"},
		{"failed", "POST", "/orders", body, []string{"Authorization", "Bearer alice", "Idempotency-Key", "sold-out"}, 409, "sold_out", "failed"},
		{"pending", "POST", "/orders?wait=0s", body, []string{"Authorization", "Bearer alice"}, 202, "", "pending"},
		{"stopping shows pending", "GET", "/orders/" + order.IDForKey("alice", "stuck") + "?wait=0s", "", []string{"Authorization", "Bearer alice"}, 200, "", "pending"},
		{"another's order", "GET", "/orders/" + order.IDForKey("alice", "done"), "", []string{"Authorization", "Bearer bob"}, 404, "order_not_found", ""},
		{"unknown order", "GET", "/orders/nope?wait=0s", "", []string{"Authorization", "Bearer alice"}, 404, "order_not_found", ""},
		{"bad order id", "GET", "/orders/__x__", "", []string{"Authorization", "Bearer alice"}, 400, "invalid_order_id", ""},
	} {
		r := httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.body))
		for i := 0; i+1 < len(tc.header); i += 2 {
			r.Header.Add(tc.header[i], tc.header[i+1])
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		var got struct {
			Status string
			Error  struct{ Code string }
		}
		_ = json.Unmarshal(w.Body.Bytes(), &got)
		if w.Code != tc.status || got.Error.Code != tc.code || got.Status != tc.orderStatus {
			t.Errorf("%s: %d %s, want %d code %q status %q", tc.name, w.Code, w.Body, tc.status, tc.code, tc.orderStatus)
		}
		if tc.status == 401 && !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s: no WWW-Authenticate", tc.name)
		}
		if tc.status == 202 && !strings.HasPrefix(w.Header().Get("Location"), "/orders/") {
			t.Errorf("%s: Location %q", tc.name, w.Header().Get("Location"))
		}
	}

	// A fault of the store is a 500 that hides its details.
	store.fail = errors.New("firestore: connection refused")
	w := httptest.NewRecorder()
	r := httptest.NewRequest("POST", "/orders", strings.NewReader(body))
	r.Header.Set("Authorization", "Bearer alice")
	h.ServeHTTP(w, r)
	if w.Code != 500 || strings.Contains(w.Body.String(), "connection refused") {
		t.Errorf("store fault: %d %s", w.Code, w.Body)
	}
}
