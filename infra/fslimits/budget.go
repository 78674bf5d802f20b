package fslimits

import (
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// budget gives each key (a document, an index range) one write per its
// interval. A commit takes the next free slot of every key it writes and
// waits for the latest; when that is more than contentionWait away it
// takes none and fails with errContention instead.
type budget struct {
	now   func() time.Time
	sleep func(time.Duration)

	mu   sync.Mutex
	next map[string]time.Time // key → when its next write may commit
}

// contentionWait is the longest a commit waits for its slots before the
// simulated ABORTED.
const contentionWait = time.Second

// errContention is production's error for a document or range written too
// often, marked as simulated.
var errContention = status.Error(codes.Aborted,
	"Too much contention on these documents. Please try again. (simulated by the local stack's Firestore relay: infra/fslimits)")

// pruneAt is how many keys the budget remembers before it forgets those
// whose slot has passed (which it treats as free anyway).
const pruneAt = 1 << 16

func newBudget() *budget {
	return &budget{now: time.Now, sleep: time.Sleep, next: map[string]time.Time{}}
}

// slot is a key and its interval between writes.
type slot struct {
	key      string
	interval time.Duration
}

// take waits for a write slot of every key, or returns errContention.
// It reports how long it waited.
func (b *budget) take(slots []slot) (time.Duration, error) {
	if len(slots) == 0 {
		return 0, nil
	}
	b.mu.Lock()
	now := b.now()
	at := make([]time.Time, len(slots))
	var wait time.Duration
	for i, s := range slots {
		at[i] = now
		if next := b.next[s.key]; next.After(now) {
			at[i] = next
		}
		wait = max(wait, at[i].Sub(now))
	}
	if wait > contentionWait {
		b.mu.Unlock()
		return 0, errContention
	}
	for i, s := range slots {
		b.next[s.key] = at[i].Add(s.interval)
	}
	if len(b.next) > pruneAt {
		for k, t := range b.next {
			if !t.After(now) {
				delete(b.next, k)
			}
		}
	}
	b.mu.Unlock()
	if wait > 0 {
		b.sleep(wait)
	}
	return wait, nil
}
