package infra_test

import (
	"testing"

	"github.com/ticketsaga/saga/infra"
	"github.com/ticketsaga/saga/shared/platform/metrics"
)

// TestDeadLetterAttempts holds the metrics' idea of a delivery's last
// attempt (the one that is dead-lettered when it fails) equal to every
// subscription's max_delivery_attempts.
func TestDeadLetterAttempts(t *testing.T) {
	t.Parallel()
	decl, err := infra.Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range decl.Subscriptions {
		if int(s.MaxDeliveryAttempts) != metrics.DeadLetterAttempts {
			t.Errorf("%s: max_delivery_attempts %d, but metrics.DeadLetterAttempts is %d", s.Name, s.MaxDeliveryAttempts, metrics.DeadLetterAttempts)
		}
	}
}
