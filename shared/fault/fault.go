// Package fault tells the two kinds of error apart: a fault, which
// repeating may fix (Firestore or Pub/Sub unavailable: retry, 5xx), and a
// permanent error, which repeating cannot fix (a stored document that
// cannot be decoded, a request Firestore refuses as invalid). A push
// handler acks a permanent error after logging it, instead of letting
// Pub/Sub retry it five times into the dead-letter topic; the API answers
// it with a 4xx.
package fault

import (
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// ErrPermanent marks an error that repeating cannot fix.
var ErrPermanent = errors.New("permanent error")

// ErrCorrupt marks a stored document that cannot be decoded. It is
// permanent.
var ErrCorrupt = fmt.Errorf("%w: stored document cannot be decoded", ErrPermanent)

// Corrupt wraps the decoding error of the stored document what.
func Corrupt(what string, err error) error {
	return fmt.Errorf("%w: %s: %v", ErrCorrupt, what, err)
}

// Permanent wraps err as permanent.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrPermanent, err)
}

// IsPermanent reports whether repeating what failed with err cannot help:
// err is marked permanent, or Firestore refused the request itself
// (InvalidArgument, FailedPrecondition, OutOfRange). Everything else is a
// fault: unavailable, deadline exceeded, aborted, a lost connection.
func IsPermanent(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrPermanent) {
		return true
	}
	switch status.Code(err) {
	case codes.InvalidArgument, codes.FailedPrecondition, codes.OutOfRange:
		return true
	}
	return false
}
