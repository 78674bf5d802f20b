package fault

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
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
		{"invalid argument", status.Error(codes.InvalidArgument, "bad id"), true},
		{"wrapped invalid argument", fmt.Errorf("step: %w", status.Error(codes.InvalidArgument, "bad id")), true},
		{"failed precondition", status.Error(codes.FailedPrecondition, "x"), true},
		{"corrupt", fmt.Errorf("consume: %w", Corrupt("accounts/u", errors.New("cannot decode"))), true},
		{"marked", Permanent(errors.New("never")), true},
	} {
		if got := IsPermanent(tc.err); got != tc.want {
			t.Errorf("%s: IsPermanent(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
	if !errors.Is(Corrupt("x", errors.New("y")), ErrPermanent) {
		t.Error("a corrupt document is not permanent")
	}
}
