package saga

import (
	"errors"
	"fmt"
)

// Kind is what an error means to the caller, whatever layer raised it. The
// HTTP edge (httpjson.WriteError) maps it to a status in one place; the
// push edge acks the permanent kinds and asks Pub/Sub to retry the rest.
type Kind string

const (
	// Invalid: the request is malformed (400). Permanent.
	Invalid Kind = "invalid"
	// TooLarge: the body is over the limit (413). Permanent.
	TooLarge Kind = "too_large"
	// Unauthenticated: no valid credentials (401).
	Unauthenticated Kind = "unauthenticated"
	// Forbidden: valid credentials, not allowed (403).
	Forbidden Kind = "forbidden"
	// NotFound: no such thing, or not the caller's to see (404).
	NotFound Kind = "not_found"
	// Unprocessable: well-formed, but in conflict with an earlier request
	// (422: an Idempotency-Key reused).
	Unprocessable Kind = "unprocessable"
	// Corrupt: a stored record cannot be read (409). Permanent: repeating
	// cannot help.
	Corrupt Kind = "corrupt"
	// Unavailable: a part this request needs is not configured or not
	// reachable (503); the message says which. Not permanent: it may
	// come back.
	Unavailable Kind = "unavailable"
	// Permanent: anything else repeating cannot fix: a poison message, a
	// request the store refuses as it is (400 at the API).
	Permanent Kind = "permanent"
)

// Error is the one error type with a meaning for callers: a kind, a
// machine-readable code (the contract's error.code) and a message for
// people. Errors without a kind are faults: retry later (500, or a push
// retried by Pub/Sub).
type Error struct {
	Kind    Kind
	Code    string
	Message string
	Err     error // the cause, if any
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Code + ": " + e.Message + ": " + e.Err.Error()
	}
	return e.Code + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// E returns an error of kind with code and a formatted message.
func E(kind Kind, code, format string, args ...any) *Error {
	return &Error{Kind: kind, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns err as an error of kind with code, keeping err as its cause.
func Wrap(kind Kind, code string, err error) *Error {
	return &Error{Kind: kind, Code: code, Message: err.Error(), Err: err}
}

// KindOf returns the kind of the first *Error in err's chain, or "" for a
// fault.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return ""
}

// IsPermanent reports whether err is of a kind that repeating cannot fix.
func IsPermanent(err error) bool {
	switch KindOf(err) {
	case Invalid, TooLarge, Corrupt, Permanent:
		return true
	}
	return false
}

// CorruptRecord is the error of a stored record, what, that cannot be
// decoded.
func CorruptRecord(what string, err error) *Error {
	return &Error{Kind: Corrupt, Code: "corrupt_record", Message: what + " cannot be read", Err: err}
}

// Poison is a message that can never succeed.
func Poison(format string, args ...any) *Error {
	return E(Permanent, "poison", format, args...)
}
