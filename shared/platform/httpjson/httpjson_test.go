package httpjson

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ticketsaga/saga/shared/saga"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestDecode(t *testing.T) {
	t.Parallel()
	type body struct {
		N    *int64  `json:"n"`
		Name *string `json:"name"`
	}
	for _, tc := range []struct {
		name, in   string
		wantStatus int
		wantCode   string
	}{
		{"ok", `{"n":1}`, 0, ""},
		{"ok with space", " \n{ \"n\" : 1 , \"name\":\"x\" }\n", 0, ""},
		{"unknown field", `{"n":1,"x":2}`, 400, "unknown_field"},
		{"case variant", `{"N":1}`, 400, "unknown_field"},
		{"case variant beside the field", `{"n":1,"N":2}`, 400, "unknown_field"},
		{"duplicate", `{"n":1,"n":2}`, 400, "duplicate_key"},
		{"wrong type", `{"n":"1"}`, 400, "invalid_type"},
		{"float", `{"n":1.5}`, 400, "invalid_type"},
		{"exponent", `{"n":1e3}`, 400, "invalid_type"},
		{"huge number", `{"n":1e400}`, 400, "invalid_type"},
		{"past int64", `{"n":9223372036854775808}`, 400, "invalid_type"},
		{"nested object", `{"n":{"v":1}}`, 400, "nesting_too_deep"},
		{"nested array", `{"name":["x"]}`, 400, "nesting_too_deep"},
		{"array", `[{"n":1}]`, 400, "not_an_object"},
		{"string", `"n"`, 400, "not_an_object"},
		{"number", `1`, 400, "not_an_object"},
		{"null", `null`, 400, "not_an_object"},
		{"empty", ``, 400, "invalid_json"},
		{"spaces only", `   `, 400, "invalid_json"},
		{"unterminated", `{"n":1`, 400, "invalid_json"},
		{"trailing object", `{"n":1}{}`, 400, "trailing_data"},
		{"trailing garbage", `{"n":1} x`, 400, "trailing_data"},
		{"too big", `{"n":1,"pad":"` + strings.Repeat("x", MaxBody) + `"}`, 413, "body_too_large"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/", strings.NewReader(tc.in))
			var b body
			err := Decode(httptest.NewRecorder(), r, &b)
			switch {
			case tc.wantStatus == 0 && err != nil:
				t.Fatalf("Decode: %v", err)
			case tc.wantStatus != 0 && (err == nil || Status(err) != tc.wantStatus || err.Code != tc.wantCode):
				t.Fatalf("Decode err = %v, want %d %s", err, tc.wantStatus, tc.wantCode)
			}
		})
	}
}

func TestFieldNames(t *testing.T) {
	t.Parallel()
	var b struct {
		A      int `json:"a"`
		B      int `json:"b,omitempty"`
		Hidden int `json:"-"`
		C      int
		d      int
	}
	_ = b.d
	got := fieldNames(&b)
	if len(got) != 3 || !got["a"] || !got["b"] || !got["C"] {
		t.Errorf("fieldNames = %v", got)
	}
}

func TestWriteErrorHidesInternals(t *testing.T) {
	t.Parallel()
	w := httptest.NewRecorder()
	WriteError(w, httptest.NewRequest("GET", "/", nil), discard(), errString("secret db failure"))
	if w.Code != http.StatusInternalServerError || strings.Contains(w.Body.String(), "secret") {
		t.Fatalf("got %d %s", w.Code, w.Body)
	}
}

type errString string

func (e errString) Error() string { return string(e) }

// TestWriteErrorMapsEveryKind: the one place an error's kind becomes an
// HTTP status and the contract's error body.
func TestWriteErrorMapsEveryKind(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err        error
		status     int
		code       string
		authHeader bool
	}{
		{saga.E(saga.Invalid, "invalid_quantity", "q"), 400, "invalid_quantity", false},
		{saga.E(saga.TooLarge, "body_too_large", "b"), 413, "body_too_large", false},
		{saga.E(saga.Unauthenticated, "unauthenticated", "u"), 401, "unauthenticated", true},
		{saga.E(saga.Forbidden, "forbidden", "f"), 403, "forbidden", false},
		{fmt.Errorf("get: %w", saga.E(saga.NotFound, "order_not_found", "n")), 404, "order_not_found", false},
		{saga.E(saga.Unprocessable, "idempotency_key_reused", "k"), 422, "idempotency_key_reused", false},
		{saga.CorruptRecord("accounts/u", errString("bad field")), 409, "corrupt_record", false},
		{saga.Poison("a secret detail"), 400, "invalid_request", false},
		{status.Error(codes.InvalidArgument, "a secret detail"), 400, "invalid_request", false},
		{errString("secret db failure"), 500, "internal", false},
	} {
		w := httptest.NewRecorder()
		WriteError(w, httptest.NewRequest("GET", "/", nil), discard(), tc.err)
		var body ErrorBody
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
			t.Fatalf("%v: body %s: %v", tc.err, w.Body, err)
		}
		if w.Code != tc.status || body.Error.Code != tc.code || body.Error.Message == "" || strings.Contains(w.Body.String(), "secret") ||
			(w.Header().Get("WWW-Authenticate") != "") != tc.authHeader {
			t.Errorf("%v: %d %s (WWW-Authenticate %q), want %d %s", tc.err, w.Code, w.Body, w.Header().Get("WWW-Authenticate"), tc.status, tc.code)
		}
	}
}

// TestMuxRoutes: a resource route checks its id and required fields
// before the use case runs, and maps the use case's error.
func TestMuxRoutes(t *testing.T) {
	t.Parallel()
	type body struct {
		N *int64 `json:"n" httpjson:"required"`
		M *int64 `json:"m"`
	}
	stored := map[string]int64{}
	h := Mux(slog.New(slog.DiscardHandler),
		Put("/things/{thing_id}", func(_ context.Context, id string, b body) (any, error) {
			stored[id] = *b.N
			return map[string]int64{"n": *b.N}, nil
		}),
		Get("/things/{thing_id}", func(_ context.Context, id string) (any, error) {
			n, ok := stored[id]
			if !ok {
				return nil, saga.E(saga.NotFound, "not_found", "no thing %s", id)
			}
			return map[string]int64{"n": n}, nil
		}))
	for _, c := range []struct {
		method, path, body string
		status             int
		code               string
	}{
		{"PUT", "/things/a", `{"m":1}`, 400, "missing_field"},
		{"PUT", "/things/__a__", `{"n":1}`, 400, "invalid_id"},
		{"PUT", "/things/a", `{"n":1,"x":2}`, 400, "unknown_field"},
		{"GET", "/things/a", ``, 404, "not_found"},
		{"PUT", "/things/a", `{"n":7}`, 200, ""},
		{"GET", "/things/a", ``, 200, ""},
	} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(c.method, c.path, strings.NewReader(c.body)))
		if w.Code != c.status || !strings.Contains(w.Body.String(), c.code) {
			t.Errorf("%s %s %s = %d %s, want %d %s", c.method, c.path, c.body, w.Code, w.Body, c.status, c.code)
		}
	}
	if stored["a"] != 7 {
		t.Errorf("stored %v, want a=7", stored)
	}
}
