//go:build !localstack

package service

import (
	"strings"
	"testing"
)

// local is the environment `make run` gives ticket-service, plus kv.
func local(kv map[string]string) func(string) string {
	all := map[string]string{"FIRESTORE_EMULATOR_HOST": "127.0.0.1:8086", "PUBSUB_EMULATOR_HOST": "127.0.0.1:8085"}
	for k, v := range kv {
		all[k] = v
	}
	return func(k string) string { return all[k] }
}

// TestProductionBuildAlwaysLeases: a production build has no naive stock
// design: STOCK_LEASES set to anything stops the start, naming the
// variable, and unset the shards are leased.
func TestProductionBuildAlwaysLeases(t *testing.T) {
	t.Parallel()
	for _, v := range []string{"0", "1"} {
		if _, err := LoadConfig(local(map[string]string{envStockLeases: v})); err == nil || !strings.Contains(err.Error(), envStockLeases) {
			t.Errorf("%s=%s: %v, want a refusal naming the variable", envStockLeases, v, err)
		}
	}
	if c, err := LoadConfig(local(nil)); err != nil || !c.StockLeases {
		t.Fatalf("unset: %+v, %v, want the leases", c, err)
	}
}
