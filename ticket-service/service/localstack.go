//go:build localstack

package service

// The local stack's build (tag localstack, which devstack uses): STOCK_LEASES=0
// turns the shard leases off, the naive design that make bench's flash
// sale compares with. A production build has production.go instead.

import (
	"fmt"

	fs "cloud.google.com/go/firestore"

	"github.com/ticketsaga/saga/shared/outbox"
	"github.com/ticketsaga/saga/ticket-service/internal/firestore"
)

// stockLeases reads STOCK_LEASES: unset or 1, the leases; 0, none.
func stockLeases(getenv func(string) string) (bool, error) {
	switch v := getenv(envStockLeases); v {
	case "", "1":
		return true, nil
	case "0":
		return false, nil
	default:
		return false, fmt.Errorf("%s=%q: want 0 (no leases, the naive design) or 1", envStockLeases, v)
	}
}

func newStore(client *fs.Client, steps *outbox.Steps, cfg Config) *firestore.Store {
	if !cfg.StockLeases {
		return firestore.NewWithoutLeases(client, steps, cfg.StockShards)
	}
	return firestore.New(client, steps, cfg.StockShards)
}
