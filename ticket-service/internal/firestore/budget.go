package firestore

import (
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// A write budget per stock shard document: a simulation, for the bench, of
// a production Firestore limit the emulator does not have. Production
// Firestore sustains about one write per second on one document; beyond
// that a write waits on the document's earlier writes (higher latency),
// and a transaction that contends too long is aborted with ABORTED "Too
// much contention", which the client library retries with backoff (see
// docs/capacity.md for the sources). The emulator commits any number of
// writes to one document per second, so without this the bench could not
// show what a sale faster than its shards does.
//
// The budget gives each shard document one write per interval: a grant or
// cancel about to write a shard waits for the document's next free slot
// in its transaction, so its commit comes that much later, and when that
// slot is more than contentionWait away it fails with codes.Aborted
// instead, which makes the client library roll the transaction back and
// run it again after a backoff, as a production commit aborted by
// contention does. Off (nil) unless SIMULATED_SHARD_WRITE_RATE is set,
// which the configuration refuses outside the emulators.
type writeBudget struct {
	interval time.Duration // one write per interval on each document
	now      func() time.Time
	sleep    func(time.Duration)

	mu   sync.Mutex
	next map[string]time.Time // document path → when its next write may commit
}

// contentionWait is the longest a write waits for its document's slot
// before the simulated ABORTED. One instance's leases keep its grants of
// one ticket type on different shards, so there a write waits at most one
// interval: ABORTED needs several instances (or STOCK_LEASES=0).
const contentionWait = time.Second

// errContention is the simulated contention error: a retryable ABORTED,
// with production's message.
var errContention = status.Error(codes.Aborted,
	"Too much contention on these documents. Please try again. (simulated: SIMULATED_SHARD_WRITE_RATE)")

// pruneAt is how many documents the budget remembers before it forgets the
// ones whose slot has passed (which it treats as free anyway).
const pruneAt = 4096

func newWriteBudget(perSecond int) *writeBudget {
	if perSecond <= 0 {
		return nil
	}
	return &writeBudget{interval: time.Second / time.Duration(perSecond), now: time.Now, sleep: time.Sleep, next: map[string]time.Time{}}
}

// take waits for the next write slot of the document at path and returns
// nil, or returns errContention when that slot is more than contentionWait
// away. A nil budget takes nothing.
func (b *writeBudget) take(path string) error {
	if b == nil {
		return nil
	}
	b.mu.Lock()
	now := b.now()
	at := now
	if next := b.next[path]; next.After(now) {
		at = next
	}
	wait := at.Sub(now)
	if wait > contentionWait {
		b.mu.Unlock()
		return errContention
	}
	b.next[path] = at.Add(b.interval)
	if len(b.next) > pruneAt {
		for p, t := range b.next {
			if !t.After(now) {
				delete(b.next, p)
			}
		}
	}
	b.mu.Unlock()
	if wait > 0 {
		b.sleep(wait)
	}
	return nil
}

// LimitShardWrites turns on the simulated write budget: at most perSecond
// writes per second on each stock shard document (0: off). For the bench
// only: the configuration refuses it outside the emulators.
func (s *Store) LimitShardWrites(perSecond int) { s.budget = newWriteBudget(perSecond) }
