//go:build localstack

package firestore

import (
	"context"
	"math/rand/v2"

	"cloud.google.com/go/firestore"

	"github.com/ticketsaga/saga/shared/outbox"
)

// NewWithoutLeases returns a Store whose concurrent grants pick shards at
// random and may wait on each other's locks: the naive design, which
// `make bench` runs on one stock document (STOCK_SHARDS=1 STOCK_LEASES=0)
// to compare with the leased shards. Only the local stack's build (tag
// localstack) has it.
func NewWithoutLeases(fs *firestore.Client, steps *outbox.Steps, shards int) *Store {
	return newStore(fs, steps, shards, noLeases{})
}

// noLeases: every shard is always free to every grant.
type noLeases struct{}

var _ shardLeases = noLeases{}

func (noLeases) one(_ context.Context, _ string, n int) (int, func(bool), error) {
	return rand.IntN(max(n, 1)), func(bool) {}, nil
}

// reserve always succeeds, so the last-tickets path never waits for the
// channel heldBy returns.
func (noLeases) reserve(string, []int) (func(), bool) { return func() {}, true }

func (noLeases) heldBy(string) (func(int) bool, <-chan struct{}) {
	return func(int) bool { return false }, nil
}

func (noLeases) refound(string, []int) {}

func (noLeases) forget(string) {}
