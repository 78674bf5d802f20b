package fault

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ticketsaga/saga/shared/saga"
)

func TestIsPermanent(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"plain", errors.New("boom"), false},
		{"unavailable", status.Error(codes.Unavailable, "down"), false},
		{"aborted", fmt.Errorf("tx: %w", status.Error(codes.Aborted, "contention")), false},
		{"deadline", context.DeadlineExceeded, false},
		{"not found is not permanent by itself", saga.E(saga.NotFound, "x", "y"), false},
		{"invalid argument", status.Error(codes.InvalidArgument, "bad id"), true},
		{"wrapped invalid argument", fmt.Errorf("step: %w", status.Error(codes.InvalidArgument, "bad id")), true},
		{"failed precondition", status.Error(codes.FailedPrecondition, "x"), true},
		{"corrupt", fmt.Errorf("consume: %w", saga.CorruptRecord("accounts/u", errors.New("cannot decode"))), true},
		{"poison", saga.Poison("never"), true},
	} {
		if got := IsPermanent(tc.err); got != tc.want {
			t.Errorf("%s: IsPermanent(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}
