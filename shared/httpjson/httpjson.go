// Package httpjson holds the JSON conventions of the HTTP API (CONTRACT §2):
// strict, size-limited request bodies and the error body.
package httpjson

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
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

// Decode reads one JSON object into dst, rejecting unknown fields, wrong
// types, trailing data and bodies over MaxBody.
func Decode(w http.ResponseWriter, r *http.Request, dst any) *Error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return &Error{Status: http.StatusRequestEntityTooLarge, Code: "body_too_large", Message: fmt.Sprintf("body exceeds %d bytes", MaxBody)}
		}
		if errors.Is(err, io.EOF) {
			return BadRequest("invalid_json", "empty body")
		}
		return BadRequest("invalid_json", "%v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return BadRequest("invalid_json", "unexpected data after the JSON object")
	}
	return nil
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

// WriteError answers err in the contract's error shape. Anything that is
// not an *Error is logged and answered 500 without its details.
func WriteError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	var e *Error
	if !errors.As(err, &e) {
		log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "error", err.Error())
		e = &Error{Status: http.StatusInternalServerError, Code: "internal", Message: "internal error; retry later"}
	}
	Write(w, e.Status, ErrorBody{Error: ErrorDetail{Code: e.Code, Message: e.Message}})
}
