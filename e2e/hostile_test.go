package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/firestore/apiv1/firestorepb"
)

// hostile is one request a hostile client sends, and the answer it must
// get. A push is acked (204) and must change nothing.
type hostile struct {
	name   string
	svc    string // order, point, ticket
	method string
	path   string
	body   string
	header []string // name, value, ...
	want   int
	code   string
}

const maxAmount = "9007199254740991"    // 2^53-1
const pastMax = "9007199254740992"      // 2^53
const pastInt64 = "9223372036854775808" // 2^63

// TestHostileInput sends every case of the table to a fresh stack, checks
// each answer (status and error.code), and then that no balance, stock,
// owned ticket or order changed, and that the orders the API had to
// accept (valid, if absurd) reached a terminal state changing nothing.
func TestHostileInput(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := startStack(t, stackOptions{timeout: 30 * time.Second})
	user, ticket, rich, huge := uniq("hx"), uniq("hxt"), uniq("hxrich"), uniq("hxhuge")
	s.seedAccount(t, user, 1000)
	s.seedAccount(t, rich, 1<<53-1)
	s.seedTicket(t, ticket, 100, 5)
	s.seedTicket(t, huge, 4097, 1<<53-1)

	valid := func(mut ...string) string {
		b := fmt.Sprintf(`{"user_id":%q,"ticket_id":%q,"quantity":1,"price":100}`, user, ticket)
		for i := 0; i+1 < len(mut); i += 2 {
			if !strings.Contains(b, mut[i]) {
				t.Fatalf("case builder: %q not in %s", mut[i], b)
			}
			b = strings.Replace(b, mut[i], mut[i+1], 1)
		}
		return b
	}
	q := `"quantity":1`
	p := `"price":100`
	u := fmt.Sprintf(`"user_id":%q`, user)
	tk := fmt.Sprintf(`"ticket_id":%q`, ticket)
	deep := strings.Repeat("[", 10000) + strings.Repeat("]", 10000)
	cases := []hostile{
		// JSON oddities.
		{"not json", "order", "POST", "/orders", `{`, nil, 400, "invalid_json"},
		{"empty body", "order", "POST", "/orders", ``, nil, 400, "invalid_json"},
		{"array", "order", "POST", "/orders", "[" + valid() + "]", nil, 400, "not_an_object"},
		{"string", "order", "POST", "/orders", `"order"`, nil, 400, "not_an_object"},
		{"null", "order", "POST", "/orders", `null`, nil, 400, "not_an_object"},
		{"number", "order", "POST", "/orders", `42`, nil, 400, "not_an_object"},
		{"duplicate quantity", "order", "POST", "/orders", valid(q, `"quantity":1,"quantity":2`), nil, 400, "duplicate_key"},
		{"duplicate user", "order", "POST", "/orders", valid(u, u+`,"user_id":"someone-else"`), nil, 400, "duplicate_key"},
		{"case variant key", "order", "POST", "/orders", valid(q, `"Quantity":1`), nil, 400, "unknown_field"},
		{"case variant beside the key", "order", "POST", "/orders", valid(q, q+`,"QUANTITY":2`), nil, 400, "unknown_field"},
		{"upper-case id key", "order", "POST", "/orders", valid(u, `"USER_ID":"x"`), nil, 400, "unknown_field"},
		{"unknown field", "order", "POST", "/orders", valid(q, `"coupon":1,`+q), nil, 400, "unknown_field"},
		{"trailing object", "order", "POST", "/orders", valid() + `{}`, nil, 400, "trailing_data"},
		{"trailing garbage", "order", "POST", "/orders", valid() + ` x`, nil, 400, "trailing_data"},
		{"nested object", "order", "POST", "/orders", valid(q, `"quantity":{"n":1}`), nil, 400, "nesting_too_deep"},
		{"nested array", "order", "POST", "/orders", valid(u, `"user_id":["a"]`), nil, 400, "nesting_too_deep"},
		{"deep nesting", "order", "POST", "/orders", valid(q, `"quantity":`+deep), nil, 400, "nesting_too_deep"},
		{"byte order mark", "order", "POST", "/orders", "\ufeff" + valid(), nil, 400, "invalid_json"},
		{"huge body", "order", "POST", "/orders", `{"user_id":"` + strings.Repeat("x", 70000) + `"}`, nil, 413, "body_too_large"},
		// Numbers at and past every boundary.
		{"quantity as string", "order", "POST", "/orders", valid(q, `"quantity":"1"`), nil, 400, "invalid_type"},
		{"fractional quantity", "order", "POST", "/orders", valid(q, `"quantity":1.5`), nil, 400, "invalid_type"},
		{"quantity 1.0", "order", "POST", "/orders", valid(q, `"quantity":1.0`), nil, 400, "invalid_type"},
		{"quantity with exponent", "order", "POST", "/orders", valid(q, `"quantity":1e2`), nil, 400, "invalid_type"},
		{"quantity zero", "order", "POST", "/orders", valid(q, `"quantity":0`), nil, 400, "invalid_quantity"},
		{"quantity negative", "order", "POST", "/orders", valid(q, `"quantity":-1`), nil, 400, "invalid_quantity"},
		{"quantity 2^53", "order", "POST", "/orders", valid(q, `"quantity":`+pastMax), nil, 400, "invalid_quantity"},
		{"quantity 2^63", "order", "POST", "/orders", valid(q, `"quantity":`+pastInt64), nil, 400, "invalid_type"},
		{"quantity -2^63", "order", "POST", "/orders", valid(q, `"quantity":-9223372036854775808`), nil, 400, "invalid_quantity"},
		{"price zero", "order", "POST", "/orders", valid(p, `"price":0`), nil, 400, "invalid_price"},
		{"price negative", "order", "POST", "/orders", valid(p, `"price":-100`), nil, 400, "invalid_price"},
		{"price 2^53", "order", "POST", "/orders", valid(p, `"price":`+pastMax), nil, 400, "invalid_price"},
		{"price 1e400", "order", "POST", "/orders", valid(p, `"price":1e400`), nil, 400, "invalid_type"},
		{"price null", "order", "POST", "/orders", valid(p, `"price":null`), nil, 400, "missing_field"},
		{"price missing", "order", "POST", "/orders", valid(","+p, ""), nil, 400, "missing_field"},
		{"ticket missing", "order", "POST", "/orders", valid(tk+",", ""), nil, 400, "missing_field"},
		{"empty ticket id, no user id", "order", "POST", "/orders", `{"ticket_id":"","quantity":1,"price":100}`, nil, 400, "invalid_ticket_id"},
		{"empty user id", "order", "POST", "/orders", valid(u, `"user_id":""`), nil, 400, "invalid_user_id"},
		// Who the buyer is (docs/contract.md, HTTP API: 401, then 400/413, then 403).
		{"another buyer's user_id", "order", "POST", "/orders", valid(u, `"user_id":"someone-else"`), nil, 403, "forbidden"},
		{"malformed beats forbidden", "order", "POST", "/orders", valid(u, `"user_id":"someone-else"`, q, `"quantity":0`), nil, 400, "invalid_quantity"},
		// Ids.
		{"user id with slash", "order", "POST", "/orders", valid(u, `"user_id":"a/b"`), nil, 400, "invalid_user_id"},
		{"user id 129 long", "order", "POST", "/orders", valid(u, `"user_id":"`+strings.Repeat("u", 129)+`"`), nil, 400, "invalid_user_id"},
		{"user id reserved __x__", "order", "POST", "/orders", valid(u, `"user_id":"__x__"`), nil, 400, "invalid_user_id"},
		{"user id .", "order", "POST", "/orders", valid(u, `"user_id":"."`), nil, 400, "invalid_user_id"},
		{"user id ..", "order", "POST", "/orders", valid(u, `"user_id":".."`), nil, 400, "invalid_user_id"},
		{"user id unicode", "order", "POST", "/orders", valid(u, `"user_id":"ü"`), nil, 400, "invalid_user_id"},
		{"user id invalid utf-8", "order", "POST", "/orders", valid(u, "\"user_id\":\"\xff\""), nil, 400, "invalid_user_id"},
		{"user id NUL", "order", "POST", "/orders", valid(u, `"user_id":"a\u0000"`), nil, 400, "invalid_user_id"},
		{"ticket id reserved", "order", "POST", "/orders", valid(tk, `"ticket_id":"__t__"`), nil, 400, "invalid_ticket_id"},
		{"ticket id with space", "order", "POST", "/orders", valid(tk, `"ticket_id":"a b"`), nil, 400, "invalid_ticket_id"},
		// Headers and parameters.
		{"wait not a duration", "order", "POST", "/orders?wait=forever", valid(), nil, 400, "invalid_wait"},
		{"wait past 60s", "order", "POST", "/orders?wait=61s", valid(), nil, 400, "invalid_wait"},
		{"wait negative", "order", "POST", "/orders?wait=-1s", valid(), nil, 400, "invalid_wait"},
		{"wait huge", "order", "POST", "/orders?wait=9999999999h", valid(), nil, 400, "invalid_wait"},
		{"key of 256 characters", "order", "POST", "/orders", valid(), []string{"Idempotency-Key", strings.Repeat("k", 256)}, 400, "invalid_idempotency_key"},
		{"key of 256 two-byte characters", "order", "POST", "/orders", valid(), []string{"Idempotency-Key", strings.Repeat("é", 256)}, 400, "invalid_idempotency_key"},
		{"key empty", "order", "POST", "/orders", valid(), []string{"Idempotency-Key", ""}, 400, "invalid_idempotency_key"},
		{"key twice", "order", "POST", "/orders", valid(), []string{"Idempotency-Key", "a", "Idempotency-Key", "b"}, 400, "invalid_idempotency_key"},
		{"get reserved id", "order", "GET", "/orders/__x__", "", nil, 400, "invalid_order_id"},
		{"get id ..", "order", "GET", "/orders/%2E%2E", "", nil, 400, "invalid_order_id"},
		{"get id with slash", "order", "GET", "/orders/a%2Fb", "", nil, 400, "invalid_order_id"},
		{"get id 129 long", "order", "GET", "/orders/" + strings.Repeat("o", 129), "", nil, 400, "invalid_order_id"},
		{"get unknown id", "order", "GET", "/orders/no-such-order", "", nil, 404, "order_not_found"},
		{"get bad wait", "order", "GET", "/orders/no-such-order?wait=1y", "", nil, 400, "invalid_wait"},
		// point-service.
		{"balance negative", "point", "PUT", "/accounts/" + user, `{"balance":-1}`, nil, 400, "invalid_balance"},
		{"balance 2^53", "point", "PUT", "/accounts/" + user, `{"balance":` + pastMax + `}`, nil, 400, "invalid_balance"},
		{"balance 2^63", "point", "PUT", "/accounts/" + user, `{"balance":` + pastInt64 + `}`, nil, 400, "invalid_type"},
		{"balance as string", "point", "PUT", "/accounts/" + user, `{"balance":"5"}`, nil, 400, "invalid_type"},
		{"balance fractional", "point", "PUT", "/accounts/" + user, `{"balance":0.5}`, nil, 400, "invalid_type"},
		{"balance twice", "point", "PUT", "/accounts/" + user, `{"balance":1,"balance":1000000}`, nil, 400, "duplicate_key"},
		{"balance case variant", "point", "PUT", "/accounts/" + user, `{"Balance":1}`, nil, 400, "unknown_field"},
		{"balance missing", "point", "PUT", "/accounts/" + user, `{}`, nil, 400, "missing_field"},
		{"balance in an array", "point", "PUT", "/accounts/" + user, `[{"balance":1}]`, nil, 400, "not_an_object"},
		{"account reserved id", "point", "PUT", "/accounts/__x__", `{"balance":1}`, nil, 400, "invalid_id"},
		{"account id 129 long", "point", "PUT", "/accounts/" + strings.Repeat("a", 129), `{"balance":1}`, nil, 400, "invalid_id"},
		{"get account reserved id", "point", "GET", "/accounts/__x__", "", nil, 400, "invalid_id"},
		{"get account ..", "point", "GET", "/accounts/%2E%2E", "", nil, 400, "invalid_id"},
		{"get unknown account", "point", "GET", "/accounts/nobody-here", "", nil, 404, "account_not_found"},
		// ticket-service.
		{"ticket price zero", "ticket", "PUT", "/tickets/" + ticket, `{"price":0,"stock":1}`, nil, 400, "invalid_price"},
		{"ticket price 2^53", "ticket", "PUT", "/tickets/" + ticket, `{"price":` + pastMax + `,"stock":1}`, nil, 400, "invalid_price"},
		{"ticket stock negative", "ticket", "PUT", "/tickets/" + ticket, `{"price":1,"stock":-1}`, nil, 400, "invalid_stock"},
		{"ticket stock 2^53", "ticket", "PUT", "/tickets/" + ticket, `{"price":1,"stock":` + pastMax + `}`, nil, 400, "invalid_stock"},
		{"ticket price as string", "ticket", "PUT", "/tickets/" + ticket, `{"price":"1","stock":1}`, nil, 400, "invalid_type"},
		{"ticket stock twice", "ticket", "PUT", "/tickets/" + ticket, `{"price":1,"stock":1,"stock":100}`, nil, 400, "duplicate_key"},
		{"ticket case variant", "ticket", "PUT", "/tickets/" + ticket, `{"price":1,"Stock":1}`, nil, 400, "unknown_field"},
		{"ticket extra field", "ticket", "PUT", "/tickets/" + ticket, `{"price":1,"stock":1,"x":1}`, nil, 400, "unknown_field"},
		{"ticket nested", "ticket", "PUT", "/tickets/" + ticket, `{"price":1,"stock":[1]}`, nil, 400, "nesting_too_deep"},
		{"ticket reserved id", "ticket", "PUT", "/tickets/__t__", `{"price":1,"stock":1}`, nil, 400, "invalid_id"},
		{"get ticket reserved id", "ticket", "GET", "/tickets/__t__", "", nil, 400, "invalid_id"},
		{"get unknown ticket", "ticket", "GET", "/tickets/no-such-ticket", "", nil, 404, "ticket_not_found"},
		{"tickets of reserved user", "ticket", "GET", "/users/__u__/tickets", "", nil, 400, "invalid_id"},
		{"tickets of a 129-long user", "ticket", "GET", "/users/" + strings.Repeat("u", 129) + "/tickets", "", nil, 400, "invalid_id"},
	}
	// Pushes a hostile network sends: each is acked and changes nothing.
	push := func(eventType, orderID, data string) string {
		return fmt.Sprintf(`{"message":{"data":%q,"attributes":{"event_type":%q,"order_id":%q,"event_id":"hx-%s"},"messageId":"1"},"subscription":"projects/x/subscriptions/x"}`,
			base64.StdEncoding.EncodeToString([]byte(data)), eventType, orderID, orderID)
	}
	env := func(id, userID, ticketID, qty, price string) string {
		return fmt.Sprintf(`{"id":%q,"order":{"user_id":%q,"ticket_id":%q,"quantity":%s,"price":%s}}`, id, userID, ticketID, qty, price)
	}
	for _, svc := range []struct{ name, event string }{{"point", "started-order"}, {"ticket", "consumed-point"}, {"order", "granted-ticket"}} {
		for _, pc := range []struct{ name, body string }{
			{"garbage", `not json`},
			{"reserved order id", push(svc.event, "__o__", env("__o__", user, ticket, "1", "100"))},
			{"reserved user id", push(svc.event, "hx-o1", env("hx-o1", "__u__", ticket, "1", "100"))},
			{"quantity 2^53", push(svc.event, "hx-o2", env("hx-o2", user, ticket, pastMax, "100"))},
			{"order id mismatch", push(svc.event, "hx-o3", env("hx-o4", user, ticket, "1", "100"))},
			{"duplicate data keys", push(svc.event, "hx-o5", `{"id":"hx-o5","id":"hx-o6"}`)},
			{"huge push", `{"message":{"data":"` + strings.Repeat("A", 1<<20) + `"}}`},
		} {
			cases = append(cases, hostile{"push to " + svc.name + ": " + pc.name, svc.name, "POST", "/push/events", pc.body, nil, 204, ""})
		}
	}
	if len(cases) < 60 {
		t.Fatalf("only %d cases", len(cases))
	}

	before := s.snapshot(t, ctx, []string{user, rich}, []string{ticket, huge})
	base := map[string]string{"order": s.order, "point": s.point, "ticket": s.ticket}
	for _, c := range cases {
		req, err := http.NewRequest(c.method, base[c.svc]+c.path, strings.NewReader(c.body))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		req.Header.Set("Content-Type", "application/json")
		header := c.header
		if c.svc == "order" && !strings.HasPrefix(c.path, "/push/") {
			header = s.bearer(t, user, header...)
		}
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Add(header[i], header[i+1])
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		raw, _ := io.ReadAll(res.Body)
		res.Body.Close()
		var body struct {
			Error struct{ Code string } `json:"error"`
		}
		_ = json.Unmarshal(raw, &body)
		if res.StatusCode != c.want || body.Error.Code != c.code {
			t.Errorf("%s: %d %q, want %d %q (%.200s)", c.name, res.StatusCode, body.Error.Code, c.want, c.code, raw)
		}
	}

	// Valid, if absurd, orders the API must accept: each ends terminal and
	// changes nothing.
	for _, a := range []struct {
		name       string
		buyer      string
		body       string
		header     []string
		wantReason string
	}{
		// 4097 × 2^52 wraps to 2^52 in 64 bits: before the checked
		// product this bought 2^52 tickets for 2^52 points.
		{"price that wraps", rich, fmt.Sprintf(`{"user_id":%q,"ticket_id":%q,"quantity":4503599627370496,"price":4503599627370496}`, rich, huge), nil, "price_mismatch"},
		{"largest amounts", rich, fmt.Sprintf(`{"user_id":%q,"ticket_id":%q,"quantity":%s,"price":%s}`, rich, huge, maxAmount, maxAmount), nil, "price_mismatch"},
		{"more points than the user has", user, fmt.Sprintf(`{"user_id":%q,"ticket_id":%q,"quantity":2,"price":%s}`, user, ticket, maxAmount), nil, "insufficient_points"},
		{"key of 255 two-byte characters", user, valid(q, `"quantity":3`, p, `"price":301`), []string{"Idempotency-Key", strings.Repeat("é", 255)}, "price_mismatch"},
		{"unknown ticket", user, valid(tk, `"ticket_id":"no-such-ticket"`), nil, "unknown_ticket"},
		{"a buyer without an account", "no-such-user", valid(u, `"user_id":"no-such-user"`), nil, "unknown_account"},
	} {
		r := s.buy(t, a.buyer, "?wait=30s", a.body, a.header...)
		if r.Status != http.StatusConflict || r.str("status") != "failed" || r.str("reason") != a.wantReason {
			t.Errorf("%s: %d %s, want 409 failed %s", a.name, r.Status, r.Raw, a.wantReason)
		}
	}
	after := s.snapshot(t, ctx, []string{user, rich}, []string{ticket, huge})
	if after.String() != before.String() {
		t.Errorf("state changed:\nbefore %s\nafter  %s", before, after)
	}
	t.Logf("%d hostile requests and 6 absurd orders: no 5xx, nothing changed", len(cases))
}

// state is what a hostile request must not change.
type state struct {
	balances, stock map[string]int64
	owned           map[string]map[string]int64
	orders          int64 // non-failed orders in the project
}

func (st state) String() string {
	return fmt.Sprintf("balances %v stock %v owned %v live orders %d", st.balances, st.stock, st.owned, st.orders)
}

func (s *Stack) snapshot(t *testing.T, ctx context.Context, users, tickets []string) state {
	t.Helper()
	st := state{balances: map[string]int64{}, stock: map[string]int64{}, owned: map[string]map[string]int64{}}
	for _, u := range users {
		st.balances[u] = s.balance(t, u)
		st.owned[u] = s.owned(t, u)
	}
	for _, tk := range tickets {
		st.stock[tk] = s.stock(t, tk)
	}
	q := s.fs.Collection("orders").Where("status", "in", []string{"pending", "stopping", "completed", "cancelled"})
	res, err := q.NewAggregationQuery().WithCount("n").Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st.orders = res["n"].(*firestorepb.Value).GetIntegerValue()
	return st
}
