//go:build localstack

package service

import "testing"

// TestLocalStackBuildCanTurnTheLeasesOff: in the local stack's build,
// STOCK_LEASES=0 gives the naive design that make bench compares with.
func TestLocalStackBuildCanTurnTheLeasesOff(t *testing.T) {
	t.Parallel()
	env := func(v string) func(string) string {
		all := map[string]string{"FIRESTORE_EMULATOR_HOST": "127.0.0.1:8086", "PUBSUB_EMULATOR_HOST": "127.0.0.1:8085", envStockLeases: v}
		return func(k string) string { return all[k] }
	}
	for v, want := range map[string]bool{"": true, "1": true, "0": false} {
		if c, err := LoadConfig(env(v)); err != nil || c.StockLeases != want {
			t.Errorf("%s=%q: leases %v, %v, want %v", envStockLeases, v, c.StockLeases, err, want)
		}
	}
	if _, err := LoadConfig(env("off")); err == nil {
		t.Error(`STOCK_LEASES="off" accepted, want 0 or 1`)
	}
}
