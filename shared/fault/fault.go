// Package fault tells the two kinds of error apart at the edges: a fault,
// which repeating may fix (Firestore or Pub/Sub unavailable: retry, 5xx),
// and a permanent error, which repeating cannot fix: one of saga's
// permanent kinds (a poison message, a stored record that cannot be
// decoded), or Firestore refusing the request itself. A push handler acks a
// permanent error after logging it, instead of letting Pub/Sub retry it five
// times into the dead-letter topic; the API answers it with a 4xx.
package fault

import (
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ticketsaga/saga/shared/saga"
)

// IsPermanent reports whether repeating what failed with err cannot help:
// err is of a permanent saga kind, or Firestore refused the request itself
// (InvalidArgument, FailedPrecondition, OutOfRange). Everything else is a
// fault: unavailable, deadline exceeded, aborted, a lost connection.
func IsPermanent(err error) bool {
	if err == nil {
		return false
	}
	if saga.IsPermanent(err) {
		return true
	}
	switch status.Code(err) {
	case codes.InvalidArgument, codes.FailedPrecondition, codes.OutOfRange:
		return true
	}
	return false
}
