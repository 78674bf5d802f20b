package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ticketsaga/saga/shared/event"
	"github.com/ticketsaga/saga/shared/saga"
)

// forge returns tok with its payload claims changed. The Auth emulator's
// tokens are not signed, and the Admin SDK verifies everything but the
// signature of emulator tokens, so a forged claim is caught by the check
// of that claim.
func forge(t *testing.T, tok string, claims map[string]any) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var payload map[string]any
	if err := json.Unmarshal(raw, &payload); err != nil {
		t.Fatal(err)
	}
	for k, v := range claims {
		payload[k] = v
	}
	raw, _ = json.Marshal(payload)
	parts[1] = base64.RawURLEncoding.EncodeToString(raw)
	return strings.Join(parts, ".")
}

// TestBuyerAuthentication: every way to not be a valid buyer gets 401 with
// WWW-Authenticate; a body user_id that is not the caller's gets 403;
// another buyer's order is 404; an Idempotency-Key claimed ahead by
// another buyer is no use to them. No balance, stock or order changes.
func TestBuyerAuthentication(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := stack
	alice, bob, mallory, ticket := uniq("alice"), uniq("bob"), uniq("mallory"), uniq("authshow")
	for _, u := range []string{alice, bob, mallory} {
		s.seedAccount(t, u, 1000)
	}
	s.seedTicket(t, ticket, 100, 5)
	aliceTok := s.bearer(t, alice)[1]
	mine := s.buy(t, alice, "?wait=30s", order(alice, ticket, 1, 100))
	mustStatus(t, mine, http.StatusCreated)
	aliceOrder := mine.str("order_id")

	// mallory: signed in, then disabled; her old token must stop working.
	malloryTok := s.bearer(t, mallory)[1]
	if err := s.buyers.Disable(ctx, mallory, true); err != nil {
		t.Fatal(err)
	}
	// bob: signed in, then all his tokens revoked.
	bobOld := s.bearer(t, bob)[1]
	if err := s.buyers.Revoke(ctx, bob); err != nil {
		t.Fatal(err)
	}

	body := order(alice, ticket, 1, 100)
	for _, tc := range []struct {
		name   string
		header []string
		body   any
	}{
		{"no token", nil, body},
		{"empty bearer", []string{"Authorization", "Bearer "}, body},
		{"not bearer", []string{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte("alice:pw"))}, body},
		{"garbage token", []string{"Authorization", "Bearer abc.def.ghi"}, body},
		{"two segments", []string{"Authorization", "Bearer abc.def"}, body},
		{"expired token", []string{"Authorization", "Bearer " + forge(t, aliceTok, map[string]any{"exp": time.Now().Add(-time.Hour).Unix()})}, body},
		{"token of another project", []string{"Authorization", "Bearer " + forge(t, aliceTok, map[string]any{"aud": "another-project"})}, body},
		{"token from another issuer", []string{"Authorization", "Bearer " + forge(t, aliceTok, map[string]any{"iss": "https://evil.example"})}, body},
		{"token of a user that does not exist", []string{"Authorization", "Bearer " + forge(t, aliceTok, map[string]any{"sub": "ghost", "user_id": "ghost"})}, body},
		{"disabled user", []string{"Authorization", "Bearer " + malloryTok}, order(mallory, ticket, 1, 100)},
		{"revoked token", []string{"Authorization", "Bearer " + bobOld}, order(bob, ticket, 1, 100)},
		{"no token and a malformed body", nil, `{"quantity":`},
	} {
		for _, req := range []struct{ method, path string }{{"POST", "/orders"}, {"GET", "/orders/" + aliceOrder}} {
			r := do(t, req.method, s.order+req.path, tc.body, tc.header...)
			if r.Status != http.StatusUnauthorized || r.str("error", "code") != "unauthenticated" || !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("%s, %s %s: %d %q %s", tc.name, req.method, req.path, r.Status, r.Header.Get("WWW-Authenticate"), r.Raw)
			}
		}
	}
	if r := do(t, "GET", s.order+"/healthz", nil); r.Status != http.StatusOK {
		t.Errorf("/healthz without a token: %d", r.Status)
	}

	// Signed in as bob.
	if r := s.buy(t, bob, "", order(alice, ticket, 1, 100)); r.Status != http.StatusForbidden || r.str("error", "code") != "forbidden" {
		t.Errorf("bob ordering as alice: %d %s", r.Status, r.Raw)
	}
	if r := s.orderOf(t, bob, "/orders/"+aliceOrder); r.Status != http.StatusNotFound || r.str("error", "code") != "order_not_found" {
		t.Errorf("bob reading alice's order: %d %s", r.Status, r.Raw)
	}
	if r := s.orderOf(t, bob, "/orders/"+aliceOrder+"?wait=30s"); r.Status != http.StatusNotFound {
		t.Errorf("bob long-polling alice's order: %d %s", r.Status, r.Raw)
	}
	// bob claims the key alice will use, for his own order...
	claim := s.buy(t, bob, "?wait=30s", map[string]any{"ticket_id": ticket, "quantity": 1, "price": 100}, "Idempotency-Key", "alice-next")
	mustStatus(t, claim, http.StatusCreated)
	if claim.str("user_id") != bob {
		t.Errorf("an order without user_id is the caller's: %s", claim.Raw)
	}
	// ...and it is no use: alice's order with that key is hers, new.
	hers := s.buy(t, alice, "?wait=30s", order(alice, ticket, 2, 200), "Idempotency-Key", "alice-next")
	if hers.Status != http.StatusCreated || hers.str("order_id") == claim.str("order_id") || hers.str("user_id") != alice {
		t.Errorf("alice's order with a key bob used first: %d %s", hers.Status, hers.Raw)
	}

	if got := s.balance(t, alice); got != 700 {
		t.Errorf("alice's balance = %d, want 700 (her two orders only)", got)
	}
	if got := s.balance(t, bob); got != 900 {
		t.Errorf("bob's balance = %d, want 900 (his one order)", got)
	}
	if got := s.balance(t, mallory); got != 1000 {
		t.Errorf("mallory's balance = %d, want 1000", got)
	}
	if got := s.stock(t, ticket); got != 1 {
		t.Errorf("stock = %d, want 1 (4 sold)", got)
	}
}

// TestForgedEventsAreIgnored: events that name an order but not what it
// is (another user, price or source than the order stored) are acked as
// poison and change nothing; the order then ends by its own events (here
// the timeout, its grant being held back), with its points back.
func TestForgedEventsAreIgnored(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{timeout: 10 * time.Second})
	s.sweeper(t, 250*time.Millisecond)
	user, thief, ticket := uniq("fe"), uniq("fethief"), uniq("fet")
	s.seedAccount(t, user, 1000)
	s.seedAccount(t, thief, 0)
	s.seedTicket(t, ticket, 100, 5)
	s.deliveries.setHold(func(service string, attrs map[string]string) bool {
		return service == saga.TicketService && attrs[saga.AttrEventType] == string(saga.ConsumedPoint)
	})
	id := s.place(t, user, ticket, 1, 100)
	waitBalance(t, s, user, 900)

	push := func(base string, typ saga.EventType, source string, o event.Order) {
		t.Helper()
		env := event.Envelope{ID: id, Order: &o, Point: &event.Section{Reason: "sold_out"}, Ticket: &event.Section{Reason: "sold_out"}}
		m, err := event.NewMessage(env, typ, source, uniq("forged"), "", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		attrs, _ := json.Marshal(m.Attributes)
		r := do(t, "POST", base+"/push/events", fmt.Sprintf(`{"message":{"data":%q,"attributes":%s,"messageId":"f"},"subscription":"projects/x/subscriptions/x"}`,
			base64.StdEncoding.EncodeToString(m.Data), attrs))
		if r.Status != http.StatusNoContent {
			t.Errorf("forged %s answered %d", typ, r.Status)
		}
	}
	real := event.Order{UserID: user, TicketID: ticket, Quantity: 1, Price: 100}
	cheap := real
	cheap.Price = 1
	other := real
	other.UserID = thief
	push(s.order, saga.GrantedTicket, saga.PointService, real)   // from the wrong service
	push(s.order, saga.GrantedTicket, saga.TicketService, cheap) // for another price
	push(s.order, saga.RefundedPoint, saga.PointService, other)  // for another user
	push(s.point, saga.FailedTicket, saga.TicketService, other)  // a refund to the thief
	if r := s.orderOf(t, user, "/orders/"+id+"?wait=0s"); r.str("status") != "pending" {
		t.Errorf("after forged events the order is %s", r.Raw)
	}
	if got := s.balance(t, thief); got != 0 {
		t.Errorf("the thief's balance = %d", got)
	}

	r := s.orderOf(t, user, "/orders/"+id+"?wait=30s")
	if r.str("status") != "cancelled" {
		t.Errorf("the order did not end by its timeout: %s", r.Raw)
	}
	if got := s.balance(t, user); got != 1000 {
		t.Errorf("balance = %d, want 1000", got)
	}
	if got := s.balance(t, thief); got != 0 {
		t.Errorf("the thief's balance = %d", got)
	}
}
