// Package httpjson holds the JSON conventions of the HTTP API (CONTRACT §2):
// strict, size-limited request bodies and the error body.
package httpjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"strings"

	"github.com/ticketsaga/saga/shared/fault"
)

// MaxBody is the largest request body accepted.
const MaxBody = 64 << 10

// Error is a client-facing error with its HTTP status and machine code.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// BadRequest returns a 400 error with code.
func BadRequest(code, format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Decode reads one JSON object into dst, a pointer to a struct of scalar
// fields (every request body of the API is one), strictly: the body must be
// one object and nothing after it, at most MaxBody bytes (else 413), with
// each key once and spelled exactly as a field of dst (encoding/json alone
// would match keys case-insensitively and keep the last of two duplicates,
// so one body could mean two things), every value a scalar of the field's
// type. Each failure is a 400 with its own code.
func Decode(w http.ResponseWriter, r *http.Request, dst any) *Error {
	raw, herr := ReadBody(w, r)
	if herr != nil {
		return herr
	}
	return DecodeBytes(raw, dst)
}

// ReadBody reads a request body of at most MaxBody bytes.
func ReadBody(w http.ResponseWriter, r *http.Request) ([]byte, *Error) {
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, &Error{Status: http.StatusRequestEntityTooLarge, Code: "body_too_large", Message: fmt.Sprintf("body exceeds %d bytes", MaxBody)}
		}
		return nil, BadRequest("unreadable_body", "reading the body: %v", err)
	}
	return raw, nil
}

// DecodeBytes is Decode on a body already read.
func DecodeBytes(raw []byte, dst any) *Error {
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
func checkShape(raw []byte, fields map[string]bool) *Error {
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

// WriteError answers err in the contract's error shape. An *Error is the
// client's mistake and answered as it says. A permanent error (a stored
// record that cannot be read, a request Firestore refuses) is logged at
// ERROR and answered 409 or 400: repeating the request cannot help. Any
// other error is a fault, logged and answered 500 (retry later) without its
// details.
func WriteError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	var e *Error
	switch {
	case errors.As(err, &e):
	case errors.Is(err, fault.ErrCorrupt):
		log.ErrorContext(r.Context(), "request failed on a stored record that cannot be read", "method", r.Method, "path", r.URL.Path, "error", err.Error())
		e = &Error{Status: http.StatusConflict, Code: "corrupt_record", Message: "a stored record this request needs cannot be read; operators have been alerted"}
	case fault.IsPermanent(err):
		log.ErrorContext(r.Context(), "request refused by the store", "method", r.Method, "path", r.URL.Path, "error", err.Error())
		e = &Error{Status: http.StatusBadRequest, Code: "invalid_request", Message: "the request cannot be stored as it is"}
	default:
		log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "error", err.Error())
		e = &Error{Status: http.StatusInternalServerError, Code: "internal", Message: "internal error; retry later"}
	}
	Write(w, e.Status, ErrorBody{Error: ErrorDetail{Code: e.Code, Message: e.Message}})
}
