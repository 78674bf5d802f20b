package firestore

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"
)

// leases keep this instance's concurrent grants of one ticket type on
// different stock shards. Two transactions on one document wait for each
// other's lock: production Firestore sustains about one write per second
// per document, and the emulator even makes the waiter sit out its whole
// 2 s lock timeout. Handing each grant a shard nobody here is using turns
// that into a short in-process wait for a free shard. Of the free shards,
// a grant gets the one released longest ago: its last write is the
// oldest, so a document's writes are spread in time as far as they can be
// (the per-document limit is a rate), and the shards drain evenly.
type leases struct {
	mu    sync.Mutex
	pools map[string]*pool
	n     int
	off   bool // every shard is always free: the naive design
	seq   uint64
	now   func() time.Time
}

type pool struct {
	free []bool
	// released is when each shard was last released, in l.seq order (0:
	// never, here).
	released []uint64
	// wake is closed and replaced whenever a shard is released.
	wake chan struct{}
	// idleSince is when the last lease was released, while none is held.
	idleSince time.Time
}

// poolMemory is how long a pool with no lease held is kept, with the
// order its shards were last released in.
const poolMemory = time.Second

func newLeases(n int, on bool) *leases {
	return &leases{pools: map[string]*pool{}, n: n, off: !on, now: time.Now}
}

func (l *leases) pool(ticketID string) *pool {
	p := l.pools[ticketID]
	if p == nil {
		l.forgetIdle()
		p = &pool{free: make([]bool, l.n), released: make([]uint64, l.n), wake: make(chan struct{})}
		for i := range p.free {
			p.free[i] = true
		}
		l.pools[ticketID] = p
	}
	p.idleSince = time.Time{}
	return p
}

// forgetIdle drops the pools with no lease held for poolMemory: the map
// holds only the ticket types being granted about now, not every ticket
// type ever sold. A waiter woken by a release looks its pool up again.
func (l *leases) forgetIdle() {
	now := l.now()
	for id, p := range l.pools {
		if !p.idleSince.IsZero() && now.Sub(p.idleSince) > poolMemory {
			delete(l.pools, id)
		}
	}
}

// one leases the free shard of ticketID among its first n that was
// released longest ago (at random among those never leased here), waiting
// for one if need be.
func (l *leases) one(ctx context.Context, ticketID string, n int) (int, func(), error) {
	n = min(max(n, 1), l.n)
	if l.off {
		return rand.IntN(n), func() {}, nil
	}
	for {
		l.mu.Lock()
		p := l.pool(ticketID)
		var free []int
		for k, ok := range p.free[:n] {
			switch {
			case !ok:
			case len(free) == 0 || p.released[k] == p.released[free[0]]:
				free = append(free, k)
			case p.released[k] < p.released[free[0]]:
				free = append(free[:0], k)
			}
		}
		if len(free) > 0 {
			k := free[rand.IntN(len(free))]
			p.free[k] = false
			l.mu.Unlock()
			return k, func() { l.release(ticketID, k) }, nil
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

// all leases every shard of ticketID, in order, so that two callers of all
// cannot deadlock and a caller of one never waits while holding a shard.
func (l *leases) all(ctx context.Context, ticketID string) (func(), error) {
	if l.off {
		return func() {}, nil
	}
	var held []int
	release := func() {
		for _, k := range held {
			l.release(ticketID, k)
		}
	}
	for k := 0; k < l.n; k++ {
		for {
			l.mu.Lock()
			p := l.pool(ticketID)
			if p.free[k] {
				p.free[k] = false
				l.mu.Unlock()
				held = append(held, k)
				break
			}
			wake := p.wake
			l.mu.Unlock()
			select {
			case <-wake:
			case <-ctx.Done():
				release()
				return nil, ctx.Err()
			}
		}
	}
	return release, nil
}

func (l *leases) release(ticketID string, k int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.pool(ticketID)
	p.free[k] = true
	l.seq++
	p.released[k] = l.seq
	close(p.wake)
	p.wake = make(chan struct{})
	for _, free := range p.free {
		if !free {
			return
		}
	}
	p.idleSince = l.now()
	l.forgetIdle()
}

// size is how many ticket types have a pool.
func (l *leases) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.pools)
}
