package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ticketsaga/saga/shared/push"
)

var idSeq atomic.Int64

// uniq returns a fresh id with prefix, unique in this run.
func uniq(prefix string) string { return fmt.Sprintf("%s-%d", prefix, idSeq.Add(1)) }

type resp struct {
	Status int
	Header http.Header
	Body   map[string]any
	Raw    string
}

func (r resp) str(path ...string) string {
	var v any = r.Body
	for _, p := range path {
		m, _ := v.(map[string]any)
		v = m[p]
	}
	s, _ := v.(string)
	return s
}

func do(t *testing.T, method, url string, body any, header ...string) resp {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, _ := json.Marshal(b)
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := resp{Status: res.StatusCode, Header: res.Header, Raw: string(raw)}
	if len(raw) > 0 {
		_ = json.Unmarshal(raw, &out.Body)
	}
	return out
}

// bearer returns the Authorization header of the test buyer user (signed
// in to the Auth emulator, created if need be), then the header pairs more.
func (s *Stack) bearer(t *testing.T, user string, more ...string) []string {
	t.Helper()
	tok, err := s.buyers.Token(context.Background(), user)
	if err != nil {
		t.Fatal(err)
	}
	return append([]string{"Authorization", "Bearer " + tok}, more...)
}

// buy posts an order as user: POST /orders+query with body.
func (s *Stack) buy(t *testing.T, user, query string, body any, header ...string) resp {
	t.Helper()
	return do(t, "POST", s.order+"/orders"+query, body, s.bearer(t, user, header...)...)
}

// orderOf reads an order as user: GET path (/orders/{id}?...).
func (s *Stack) orderOf(t *testing.T, user, path string) resp {
	t.Helper()
	return do(t, "GET", s.order+path, nil, s.bearer(t, user)...)
}

func mustStatus(t *testing.T, r resp, want int) {
	t.Helper()
	if r.Status != want {
		t.Fatalf("status %d, want %d; body %s", r.Status, want, r.Raw)
	}
}

func (s *Stack) seedAccount(t *testing.T, user string, balance int64) {
	t.Helper()
	mustStatus(t, do(t, "PUT", s.point+"/accounts/"+user, map[string]any{"balance": balance}), 200)
}

func (s *Stack) seedTicket(t *testing.T, id string, price, stock int64) {
	t.Helper()
	mustStatus(t, do(t, "PUT", s.ticket+"/tickets/"+id, map[string]any{"price": price, "stock": stock}), 200)
}

func (s *Stack) balance(t *testing.T, user string) int64 {
	t.Helper()
	r := do(t, "GET", s.point+"/accounts/"+user, nil)
	mustStatus(t, r, 200)
	return int64(r.Body["balance"].(float64))
}

func (s *Stack) stock(t *testing.T, id string) int64 {
	t.Helper()
	r := do(t, "GET", s.ticket+"/tickets/"+id, nil)
	mustStatus(t, r, 200)
	return int64(r.Body["stock"].(float64))
}

// owned returns how many tickets of each type user owns.
func (s *Stack) owned(t *testing.T, user string) map[string]int64 {
	t.Helper()
	r := do(t, "GET", s.ticket+"/users/"+user+"/tickets", nil)
	mustStatus(t, r, 200)
	out := map[string]int64{}
	for _, x := range r.Body["tickets"].([]any) {
		h := x.(map[string]any)
		out[h["ticket_id"].(string)] = int64(h["count"].(float64))
	}
	return out
}

func order(user, ticket string, qty, price int64) map[string]any {
	return map[string]any{"user_id": user, "ticket_id": ticket, "quantity": qty, "price": price}
}

func historyTypes(r resp) []string {
	var out []string
	hs, _ := r.Body["history"].([]any)
	for _, h := range hs {
		out = append(out, h.(map[string]any)["event_type"].(string))
	}
	return out
}

// peekPush decodes a push request (a zero message with empty attributes
// when it cannot) and returns a body that replays it.
func peekPush(r *http.Request) (push.Message, io.ReadCloser) {
	raw, _ := io.ReadAll(r.Body)
	m, err := push.Decode(&http.Request{Body: io.NopCloser(bytes.NewReader(raw))})
	if err != nil || m.Attributes == nil {
		m = push.Message{Attributes: map[string]string{}}
	}
	return m, io.NopCloser(bytes.NewReader(raw))
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func jsonBody(v any) io.Reader {
	raw, _ := json.Marshal(v)
	return bytes.NewReader(raw)
}

// postOrder posts an order as user with an Idempotency-Key the way a
// careful client does: on a transport error (the service crashed
// mid-request) it retries with the same key, with a backoff, up to 40
// times.
func postOrder(t *testing.T, s *Stack, user, query string, body map[string]any, key string) (resp, int) {
	t.Helper()
	auth := s.bearer(t, user)
	for attempt := 1; ; attempt++ {
		req, _ := http.NewRequest("POST", s.order+"/orders"+query, jsonBody(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", key)
		req.Header.Set(auth[0], auth[1])
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			if attempt == 40 {
				t.Fatalf("POST /orders with key %s: %d attempts failed, last: %v", key, attempt, err)
			}
			time.Sleep(time.Duration(attempt) * 50 * time.Millisecond) // client retry backoff
			continue
		}
		raw, _ := io.ReadAll(res.Body)
		res.Body.Close()
		out := resp{Status: res.StatusCode, Header: res.Header, Raw: string(raw)}
		_ = json.Unmarshal(raw, &out.Body)
		return out, attempt
	}
}
