//go:build !localstack

package service

// The production build (no build tag): the stock shards are always
// leased. The naive design without leases is only in the local stack's
// build (localstack.go, go build -tags localstack).

import (
	"fmt"

	fs "cloud.google.com/go/firestore"

	"github.com/ticketsaga/saga/shared/outbox"
	"github.com/ticketsaga/saga/ticket-service/internal/firestore"
)

// stockLeases refuses STOCK_LEASES: this build has no setting to turn the
// leases off, and one set is reported at the start, never ignored.
func stockLeases(getenv func(string) string) (bool, error) {
	if v := getenv(envStockLeases); v != "" {
		return false, fmt.Errorf("%s=%q: this build always leases the stock shards; the naive design without leases "+
			"is only in the local stack's build (go build -tags localstack, as make bench builds the services): unset it", envStockLeases, v)
	}
	return true, nil
}

func newStore(client *fs.Client, steps *outbox.Steps, cfg Config) *firestore.Store {
	return firestore.New(client, steps, cfg.StockShards)
}
