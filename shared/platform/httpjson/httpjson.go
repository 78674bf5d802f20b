// Package httpjson holds the JSON conventions of the HTTP API (docs/contract.md, HTTP API):
// strict, size-limited request bodies, and the error body, written from a
// saga.Error in the one place where an error's kind becomes an HTTP
// status.
package httpjson

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"regexp"
	"strings"

	"github.com/ticketsaga/saga/shared/fault"
	"github.com/ticketsaga/saga/shared/saga"
)

// MaxBody is the largest request body accepted.
const MaxBody = 64 << 10

// BadRequest returns a 400 error with code.
func BadRequest(code, format string, args ...any) *saga.Error {
	return saga.E(saga.Invalid, code, format, args...)
}

// Decode reads one JSON object into dst, a pointer to a struct of scalar
// fields (every request body of the API is one), strictly: the body must be
// one object and nothing after it, at most MaxBody bytes (else 413), with
// each key once and spelled exactly as a field of dst (encoding/json alone
// would match keys case-insensitively and keep the last of two duplicates,
// so one body could mean two things), every value a scalar of the field's
// type. Each failure is a 400 with its own code.
func Decode(w http.ResponseWriter, r *http.Request, dst any) *saga.Error {
	raw, herr := ReadBody(w, r)
	if herr != nil {
		return herr
	}
	return DecodeBytes(raw, dst)
}

// ReadBody reads a request body of at most MaxBody bytes.
func ReadBody(w http.ResponseWriter, r *http.Request) ([]byte, *saga.Error) {
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, saga.E(saga.TooLarge, "body_too_large", "body exceeds %d bytes", MaxBody)
		}
		return nil, BadRequest("unreadable_body", "reading the body: %v", err)
	}
	return raw, nil
}

// DecodeBytes is Decode on a body already read.
func DecodeBytes(raw []byte, dst any) *saga.Error {
	if herr := checkShape(raw, fieldNames(dst)); herr != nil {
		return herr
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return BadRequest("invalid_type", "%s must be a JSON %s", typeErr.Field, typeErr.Type.Kind())
		}
		return BadRequest("invalid_json", "%v", err)
	}
	return nil
}

// checkShape walks the tokens of raw: one object of known, distinct keys
// with scalar values, and nothing after it.
func checkShape(raw []byte, fields map[string]bool) *saga.Error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber() // numbers are judged against their field's type later
	tok, err := dec.Token()
	switch {
	case errors.Is(err, io.EOF):
		return BadRequest("invalid_json", "empty body")
	case err != nil:
		return BadRequest("invalid_json", "%v", err)
	case tok != json.Delim('{'):
		return BadRequest("not_an_object", "the body must be a JSON object")
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return BadRequest("invalid_json", "%v", err)
		}
		key, _ := tok.(string)
		if seen[key] {
			return BadRequest("duplicate_key", "key %q appears twice", key)
		}
		seen[key] = true
		if !fields[key] {
			for f := range fields {
				if strings.EqualFold(f, key) {
					return BadRequest("unknown_field", "unknown field %q (keys are case-sensitive: %q)", key, f)
				}
			}
			return BadRequest("unknown_field", "unknown field %q", key)
		}
		tok, err = dec.Token()
		if err != nil {
			return BadRequest("invalid_json", "%v", err)
		}
		if d, ok := tok.(json.Delim); ok && (d == '{' || d == '[') {
			return BadRequest("nesting_too_deep", "%s must be a single value, not an object or array", key)
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return BadRequest("invalid_json", "%v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return BadRequest("trailing_data", "unexpected data after the JSON object")
	}
	return nil
}

// fieldNames returns the JSON names of the fields of the struct dst points
// to.
func fieldNames(dst any) map[string]bool {
	t := reflect.TypeOf(dst)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	out := map[string]bool{}
	if t.Kind() != reflect.Struct {
		return out
	}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch name {
		case "-":
			continue
		case "":
			name = f.Name
		}
		out[name] = true
	}
	return out
}

// Failure is the contract's error body with code and message.
func Failure(code, message string) ErrorBody {
	return ErrorBody{Error: ErrorDetail{Code: code, Message: message}}
}

// Write answers status with v as JSON.
func Write(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// ErrorBody is the contract's error shape.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the inside of ErrorBody.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// statusOf is the HTTP status of each kind of error: the one place it is
// decided.
var statusOf = map[saga.Kind]int{
	saga.Invalid:         http.StatusBadRequest,
	saga.TooLarge:        http.StatusRequestEntityTooLarge,
	saga.Unauthenticated: http.StatusUnauthorized,
	saga.Forbidden:       http.StatusForbidden,
	saga.NotFound:        http.StatusNotFound,
	saga.Unprocessable:   http.StatusUnprocessableEntity,
	saga.Corrupt:         http.StatusConflict,
	saga.Permanent:       http.StatusBadRequest,
	saga.Unavailable:     http.StatusServiceUnavailable,
}

// Status is the HTTP status of err.
func Status(err error) int {
	if st, ok := statusOf[saga.KindOf(err)]; ok {
		return st
	}
	if fault.IsPermanent(err) {
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}

// WriteError answers err in the contract's error shape. A *saga.Error of a
// caller's kind is answered as it says (401 with WWW-Authenticate). A
// corrupt record (409) or any other permanent error (400: repeating the
// request cannot help) is logged at ERROR with its cause and answered
// without it. Any other error is a fault, logged and answered 500 (retry
// later) without its details.
func WriteError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	code := Status(err)
	var e *saga.Error
	detail := ErrorDetail{Code: "internal", Message: "internal error; retry later"}
	switch {
	case code == http.StatusInternalServerError:
		log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "error", err.Error())
	case code == http.StatusServiceUnavailable && errors.As(err, &e):
		log.ErrorContext(r.Context(), "request failed: a part is unavailable", "method", r.Method, "path", r.URL.Path, "error", err.Error())
		detail = ErrorDetail{Code: e.Code, Message: e.Message}
	case saga.KindOf(err) == saga.Corrupt:
		log.ErrorContext(r.Context(), "request failed on a stored record that cannot be read", "method", r.Method, "path", r.URL.Path, "error", err.Error())
		detail = ErrorDetail{Code: "corrupt_record", Message: "a stored record this request needs cannot be read; operators have been alerted"}
	case errors.As(err, &e) && saga.KindOf(err) != saga.Permanent:
		detail = ErrorDetail{Code: e.Code, Message: e.Message}
	default:
		log.ErrorContext(r.Context(), "request refused by the store", "method", r.Method, "path", r.URL.Path, "error", err.Error())
		detail = ErrorDetail{Code: "invalid_request", Message: "the request cannot be stored as it is"}
	}
	if code == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="ticket-saga"`)
	}
	Write(w, code, ErrorBody{Error: detail})
}

// Handler is an API handler that returns its answer, a status and a body,
// or an error, which Serve writes with WriteError. It may set headers.
type Handler func(w http.ResponseWriter, r *http.Request) (int, any, error)

// Serve adapts h to net/http.
func Serve(log *slog.Logger, h Handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		status, body, err := h(w, r)
		if err != nil {
			WriteError(w, r, log, err)
			return
		}
		Write(w, status, body)
	}
}

// PathID returns the path value name of r if it is a valid id (saga's
// rule), or an Invalid error with code.
func PathID(r *http.Request, name, code string) (string, error) {
	id := r.PathValue(name)
	if !saga.ValidID(id) {
		return "", BadRequest(code, "%s must be %s", name, saga.IDRule)
	}
	return id, nil
}

// Route is one endpoint of a resource API: a method, a path pattern with
// one wildcard naming the resource, and its handler.
type Route struct {
	Method, Path string
	handler      func(log *slog.Logger, param string) Handler
}

// Get is a read of the resource named by path's wildcard: read gets a
// valid id and returns the 200 body.
func Get(path string, read func(ctx context.Context, id string) (any, error)) Route {
	return Route{Method: http.MethodGet, Path: path, handler: func(_ *slog.Logger, param string) Handler {
		return func(_ http.ResponseWriter, r *http.Request) (int, any, error) {
			id, err := PathID(r, param, "invalid_id")
			if err != nil {
				return 0, nil, err
			}
			return ok(read(r.Context(), id))
		}
	}}
}

// Put is a write of the resource named by path's wildcard: write gets a
// valid id and the strictly decoded body B, and returns the 200 body.
// Pointer fields of B tagged `httpjson:"required"` must be present.
func Put[B any](path string, write func(ctx context.Context, id string, body B) (any, error)) Route {
	return Route{Method: http.MethodPut, Path: path, handler: func(_ *slog.Logger, param string) Handler {
		return func(w http.ResponseWriter, r *http.Request) (int, any, error) {
			id, err := PathID(r, param, "invalid_id")
			if err != nil {
				return 0, nil, err
			}
			var body B
			if err := Decode(w, r, &body); err != nil {
				return 0, nil, err
			}
			if err := requireFields(&body); err != nil {
				return 0, nil, err
			}
			return ok(write(r.Context(), id, body))
		}
	}}
}

func ok(body any, err error) (int, any, error) {
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, body, nil
}

// Mux serves routes, writing their errors with WriteError. A route's path
// must have exactly one wildcard.
func Mux(log *slog.Logger, routes ...Route) http.Handler {
	mux := http.NewServeMux()
	for _, rt := range routes {
		m := wildcard.FindAllStringSubmatch(rt.Path, -1)
		if len(m) != 1 {
			panic(fmt.Sprintf("httpjson: route %s needs one wildcard", rt.Path))
		}
		mux.Handle(rt.Method+" "+rt.Path, Serve(log, rt.handler(log, m[0][1])))
	}
	return mux
}

var wildcard = regexp.MustCompile(`\{(\w+)\}`)

// requireFields returns a missing_field error naming the nil pointer
// fields of *body tagged `httpjson:"required"`.
func requireFields(body any) error {
	v := reflect.ValueOf(body).Elem()
	if v.Kind() != reflect.Struct {
		return nil
	}
	var missing []string
	for i := range v.NumField() {
		f := v.Type().Field(i)
		if f.Tag.Get("httpjson") == "required" && v.Field(i).Kind() == reflect.Pointer && v.Field(i).IsNil() {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			missing = append(missing, name)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if len(missing) == 1 {
		return BadRequest("missing_field", "%s is required", missing[0])
	}
	return BadRequest("missing_field", "%s are required", strings.Join(missing, " and "))
}
