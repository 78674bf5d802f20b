package buyers

import (
	"context"
	"net/http"
	"slices"

	"github.com/ticketsaga/saga/shared/saga"
)

// Operators decides who may use the operator page's API: against the local
// emulators, anyone who reaches it; on Cloud Run, a signed-in user whose
// uid is on the allow-list (OPS_ADMIN_UIDS). The page is off when the list
// is empty there.
type Operators struct {
	Open   bool
	Buyers *Verifier
	UIDs   []string
}

// Allow returns nil for an operator, else a saga.Unauthenticated or
// saga.Forbidden error.
func (o Operators) Allow(ctx context.Context, r *http.Request) error {
	if o.Open {
		return nil
	}
	if len(o.UIDs) == 0 {
		return saga.E(saga.Forbidden, "forbidden", "the operator page is off: no operator is configured (OPS_ADMIN_UIDS)")
	}
	uid, err := o.Buyers.Authenticate(ctx, r)
	if err != nil {
		return err
	}
	if !slices.Contains(o.UIDs, uid) {
		return saga.E(saga.Forbidden, "forbidden", "only operators may use this page")
	}
	return nil
}
