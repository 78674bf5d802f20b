package fslimits

import (
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// budget gives each key (a document, an index range) one write per its
// interval, with a burst of up to a second's worth of writes (a rate of 500
// per second may take 500 in one second, not one every 2 ms; a rate of one
// per second or less, none). A commit takes the next free slot of every key
// it writes and waits for the latest; when that is more than contentionWait
// away it takes none and fails with errContention instead. (The generic
// cell rate algorithm: next is each key's theoretical arrival time.)
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
	"Too much contention on these documents. Please try again. (simulated by the local stack's Firestore relay: tools/fslimits)")

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
	doc      bool // a document, not an index range
}

// burst is how far ahead of its rate a key may be written: a second's
// worth of writes, less the one being written.
func (s slot) burst() time.Duration {
	n := time.Second / s.interval
	if n <= 1 {
		return 0
	}
	return (n - 1) * s.interval
}

// take waits for a write slot of every key, or returns errContention.
// It reports how long it waited, and the key that set the wait.
func (b *budget) take(slots []slot) (time.Duration, slot, error) {
	if len(slots) == 0 {
		return 0, slot{}, nil
	}
	b.mu.Lock()
	now := b.now()
	at := make([]time.Time, len(slots))
	var (
		wait time.Duration
		by   slot
	)
	for i, s := range slots {
		at[i] = now
		if next := b.next[s.key].Add(-s.burst()); next.After(now) {
			at[i] = next
		}
		if w := at[i].Sub(now); w > wait || (w == wait && s.doc) {
			wait, by = w, s
		}
	}
	if wait > contentionWait {
		b.mu.Unlock()
		return 0, by, errContention
	}
	for i, s := range slots {
		b.next[s.key] = later(b.next[s.key], at[i]).Add(s.interval)
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
	return wait, by, nil
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
