package firestore

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"time"
)

// leases keep this instance's concurrent grants of one ticket type on
// different stock shards, and remember the shards it found empty.
//
// Two transactions on one document wait for each other's lock: production
// Firestore sustains about one write per second per document, and the
// emulator even makes the waiter sit out its whole 2 s lock timeout.
// Handing each grant a shard nobody here is using turns that into a short
// in-process wait for a free shard. The free shards queue in the order
// they were released, so a grant gets the one whose last write is oldest
// (the per-document limit is a rate) and the shards drain evenly. Each
// instance starts its queue in its own random order, so several instances
// granting the same type spread over the shards instead of starting on the
// same ones. Every operation costs the same whatever the shard count: a
// grant takes the head of the queue, a release appends.
//
// A shard a grant found empty leaves the queue for emptyFor; when every
// shard is out (found empty) the grant takes the path that asks Firestore
// which shards still hold stock, and those go to the head of the queue.
// That path reserves the shards it chose, so no other grant here leases
// them meanwhile, and waits for a release when the shards holding stock
// are all held here: near sell-out, grants queue in this process rather
// than on Firestore's locks.
type leases struct {
	mu       sync.Mutex
	pools    map[string]*pool
	reserved map[string]map[int]bool // ticket → shards the last-tickets path holds
	// changed[ticket] is closed (and dropped) when a shard of the ticket
	// is released or found; made when a grant wants to wait for that.
	changed map[string]chan struct{}
	now     func() time.Time
	rand    *rand.Rand
}

type pool struct {
	n      int
	queue  []int // free shards believed to hold stock, released longest ago first
	head   int
	leased int
	held   map[int]bool      // shards leased now
	empty  map[int]time.Time // shard → until when it is believed empty
	// idleSince is when the last lease was released, while none is held.
	idleSince time.Time
}

// poolMemory is how long a pool with no lease held is kept, with its
// queue and the shards it found empty.
const poolMemory = time.Minute

// emptyFor is how long a shard found empty stays out of the queue: stock
// given back to it (a cancel on another instance, a re-PUT) is found by
// the last-tickets path meanwhile.
const emptyFor = time.Minute

// errNoShard: every shard of the type is believed empty here.
var errNoShard = errors.New("no shard believed to hold stock")

var _ shardLeases = (*leases)(nil)

func newLeases() *leases {
	return &leases{pools: map[string]*pool{}, reserved: map[string]map[int]bool{}, changed: map[string]chan struct{}{},
		now: time.Now, rand: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))}
}

// pool returns ticketID's pool of n shards, new when it had another count.
func (l *leases) pool(ticketID string, n int) *pool {
	p := l.pools[ticketID]
	if p == nil || (p.n != n && p.leased == 0) {
		l.forgetIdle()
		p = &pool{n: n, queue: l.rand.Perm(n), empty: map[int]time.Time{}, held: map[int]bool{}}
		l.pools[ticketID] = p
	}
	p.idleSince = time.Time{}
	return p
}

// forgetIdle drops the pools with no lease held for poolMemory: the map
// holds only the ticket types being granted about now.
func (l *leases) forgetIdle() {
	now := l.now()
	for id, p := range l.pools {
		if !p.idleSince.IsZero() && now.Sub(p.idleSince) > poolMemory {
			delete(l.pools, id)
		}
	}
	// A type nobody here holds has nothing to wait for: wake its waiters
	// (they look again) and drop the channel.
	for id := range l.changed {
		if l.pools[id] == nil && l.reserved[id] == nil {
			l.broadcast(id)
		}
	}
}

// one leases a free shard of ticketID's n believed to hold stock, waiting
// for one if they are all leased; errNoShard when none is believed to hold
// stock. release says whether the grant found the shard empty.
func (l *leases) one(ctx context.Context, ticketID string, n int) (int, func(empty bool), error) {
	n = max(n, 1)
	for {
		l.mu.Lock()
		p := l.pool(ticketID, n)
		if p.head == len(p.queue) {
			p.refill(l.now())
		}
		if p.head < len(p.queue) {
			k := p.queue[p.head]
			p.head++
			if l.reserved[ticketID][k] {
				l.mu.Unlock()
				continue // back in the queue when the reservation ends
			}
			p.leased++
			p.held[k] = true
			l.mu.Unlock()
			return k, func(empty bool) { l.release(ticketID, p, k, empty) }, nil
		}
		if p.leased == 0 {
			p.idleSince = l.now() // nothing held: the pool may be forgotten
			l.mu.Unlock()
			return 0, nil, errNoShard
		}
		wake := l.changedOf(ticketID)
		l.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return 0, nil, ctx.Err()
		}
	}
}

// refill puts back in the queue the shards whose emptiness has expired.
func (p *pool) refill(now time.Time) {
	p.queue, p.head = p.queue[:0], 0
	for k, until := range p.empty {
		if now.After(until) {
			delete(p.empty, k)
			p.queue = append(p.queue, k)
		}
	}
}

func (l *leases) release(ticketID string, p *pool, k int, empty bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	p.leased--
	delete(p.held, k)
	if empty {
		p.empty[k] = l.now().Add(emptyFor)
	} else {
		if p.head > len(p.queue)/2 && p.head > 64 {
			// Keep the queue's storage bounded: drop what was handed out.
			p.queue = append(p.queue[:0], p.queue[p.head:]...)
			p.head = 0
		}
		p.queue = append(p.queue, k)
	}
	l.broadcast(ticketID)
	if p.leased == 0 {
		p.idleSince = l.now()
		l.forgetIdle()
	}
}

// changedOf is the channel closed at the next release of a shard of
// ticketID, or when one is found holding stock.
func (l *leases) changedOf(ticketID string) chan struct{} {
	ch := l.changed[ticketID]
	if ch == nil {
		ch = make(chan struct{})
		l.changed[ticketID] = ch
	}
	return ch
}

func (l *leases) broadcast(ticketID string) {
	if ch := l.changed[ticketID]; ch != nil {
		close(ch)
		delete(l.changed, ticketID)
	}
}

// reserve holds shards of ticketID for a grant on the last-tickets path
// when no grant of this instance holds any of them.
func (l *leases) reserve(ticketID string, shards []int) (release func(), ok bool) {
	if len(shards) == 0 {
		return func() {}, true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	p, r := l.pools[ticketID], l.reserved[ticketID]
	for _, k := range shards {
		if r[k] || (p != nil && p.held[k]) {
			return func() {}, false
		}
	}
	if r == nil {
		r = map[int]bool{}
		l.reserved[ticketID] = r
	}
	for _, k := range shards {
		r[k] = true
	}
	return func() { l.unreserve(ticketID, shards) }, true
}

// unreserve ends a reservation; the shards go back to the queue they
// were skipped in, as just written.
func (l *leases) unreserve(ticketID string, shards []int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.reserved[ticketID]
	for _, k := range shards {
		delete(r, k)
	}
	if len(r) == 0 {
		delete(l.reserved, ticketID)
	}
	if p := l.pools[ticketID]; p != nil {
		queued := p.queued()
		for _, k := range shards {
			if _, empty := p.empty[k]; k < p.n && !queued[k] && !p.held[k] && !empty {
				p.queue = append(p.queue, k)
			}
		}
	}
	l.broadcast(ticketID)
}

// queued is the set of shards in the queue.
func (p *pool) queued() map[int]bool {
	queued := make(map[int]bool, len(p.queue)-p.head)
	for _, k := range p.queue[p.head:] {
		queued[k] = true
	}
	return queued
}

// refound puts the shards the last-tickets path found holding stock at the
// head of the queue, so that the next grants lease them first: near
// sell-out, most shards are empty, and these are known not to be.
func (l *leases) refound(ticketID string, shards []int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.pools[ticketID]
	if p == nil {
		return
	}
	queued := p.queued()
	var front []int
	for _, k := range shards {
		if k < p.n && !queued[k] && !p.held[k] {
			delete(p.empty, k)
			front = append(front, k)
		}
	}
	if len(front) == 0 {
		return
	}
	p.queue = append(front, p.queue[p.head:]...)
	p.head = 0
	l.broadcast(ticketID)
}

// heldBy reports, for ticketID, whether a grant of this instance holds a
// shard now (leased or reserved), and returns a channel closed at the next
// release.
func (l *leases) heldBy(ticketID string) (func(int) bool, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	held := map[int]bool{}
	if p := l.pools[ticketID]; p != nil {
		for k := range p.held {
			held[k] = true
		}
	}
	for k := range l.reserved[ticketID] {
		held[k] = true
	}
	return func(k int) bool { return held[k] }, l.changedOf(ticketID)
}

// forget drops what this instance knows of ticketID's shards (a PUT
// replaced them).
func (l *leases) forget(ticketID string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if p := l.pools[ticketID]; p != nil && p.leased == 0 {
		delete(l.pools, ticketID)
	}
}

// size is how many ticket types have a pool.
func (l *leases) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.pools)
}
