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
// shard is out (leased or found empty) the grant takes the path that asks
// Firestore which shards still hold stock (exclusive), which runs alone
// among this instance's grants of the type.
type leases struct {
	mu    sync.Mutex
	pools map[string]*pool
	off   bool // every shard is always free: the naive design
	now   func() time.Time
	rand  *rand.Rand
}

type pool struct {
	n      int
	queue  []int // free shards believed to hold stock, released longest ago first
	head   int
	leased int
	empty  map[int]time.Time // shard → until when it is believed empty
	// exclusive: the last-tickets path runs; no shard is handed out.
	exclusive bool
	// wake is closed and replaced whenever a shard is released or the
	// exclusive path ends.
	wake chan struct{}
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

func newLeases(on bool) *leases {
	return &leases{pools: map[string]*pool{}, off: !on, now: time.Now, rand: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))}
}

// pool returns ticketID's pool of n shards, new when it had another count.
func (l *leases) pool(ticketID string, n int) *pool {
	p := l.pools[ticketID]
	if p == nil || (p.n != n && p.leased == 0 && !p.exclusive) {
		l.forgetIdle()
		p = &pool{n: n, queue: l.rand.Perm(n), empty: map[int]time.Time{}, wake: make(chan struct{})}
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
}

// one leases a free shard of ticketID's n believed to hold stock, waiting
// for one if they are all leased; errNoShard when none is believed to hold
// stock. release says whether the grant found the shard empty.
func (l *leases) one(ctx context.Context, ticketID string, n int) (int, func(empty bool), error) {
	n = max(n, 1)
	if l.off {
		return rand.IntN(n), func(bool) {}, nil
	}
	for {
		l.mu.Lock()
		p := l.pool(ticketID, n)
		if !p.exclusive {
			if p.head == len(p.queue) {
				p.refill(l.now())
			}
			if p.head < len(p.queue) {
				k := p.queue[p.head]
				p.head++
				p.leased++
				l.mu.Unlock()
				return k, func(empty bool) { l.release(ticketID, p, k, empty) }, nil
			}
			if p.leased == 0 {
				l.mu.Unlock()
				return 0, nil, errNoShard
			}
		}
		wake := p.wake
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
	p.wakeAll()
	if p.leased == 0 && !p.exclusive {
		p.idleSince = l.now()
		l.forgetIdle()
	}
}

func (p *pool) wakeAll() {
	close(p.wake)
	p.wake = make(chan struct{})
}

// exclusive waits until no shard of ticketID is leased here and keeps
// them all from being leased until release is called: the last-tickets
// path decides alone among this instance's grants of the type. Firestore's
// transactions keep it exact across instances; this only keeps an instance
// from contending with itself.
func (l *leases) exclusive(ctx context.Context, ticketID string) (release func(), err error) {
	if l.off {
		return func() {}, nil
	}
	for {
		l.mu.Lock()
		p := l.pools[ticketID]
		if p == nil {
			p = l.pool(ticketID, 1)
		}
		if !p.exclusive {
			p.exclusive = true
			p.idleSince = time.Time{}
			for p.leased > 0 {
				wake := p.wake
				l.mu.Unlock()
				select {
				case <-wake:
				case <-ctx.Done():
					l.mu.Lock()
					p.exclusive = false
					p.wakeAll()
					l.mu.Unlock()
					return nil, ctx.Err()
				}
				l.mu.Lock()
			}
			l.mu.Unlock()
			return func() {
				l.mu.Lock()
				defer l.mu.Unlock()
				p.exclusive = false
				p.wakeAll()
				p.idleSince = l.now()
			}, nil
		}
		wake := p.wake
		l.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// refound puts shards the last-tickets path found holding stock back in
// the queue, so that grants lease them again.
func (l *leases) refound(ticketID string, shards []int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.pools[ticketID]
	if p == nil {
		return
	}
	for _, k := range shards {
		if _, ok := p.empty[k]; ok && k < p.n {
			delete(p.empty, k)
			p.queue = append(p.queue, k)
		}
	}
	p.wakeAll()
}

// forget drops what this instance knows of ticketID's shards (a PUT
// replaced them).
func (l *leases) forget(ticketID string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if p := l.pools[ticketID]; p != nil && p.leased == 0 && !p.exclusive {
		delete(l.pools, ticketID)
	}
}

// size is how many ticket types have a pool.
func (l *leases) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.pools)
}
