package firestore

import (
	"context"
	"math/rand/v2"
	"sync"
)

// leases keep this instance's concurrent grants of one ticket type on
// different stock shards. Two transactions on one document wait for each
// other's lock: production Firestore sustains about one write per second
// per document, and the emulator even makes the waiter sit out its whole
// 2 s lock timeout. Handing each grant a shard nobody here is using turns
// that into a short in-process wait for a free shard.
type leases struct {
	mu    sync.Mutex
	pools map[string]*pool
	n     int
	off   bool // every shard is always free: the naive design
}

type pool struct {
	free []bool
	// wake is closed and replaced whenever a shard is released.
	wake chan struct{}
}

func newLeases(n int, on bool) *leases { return &leases{pools: map[string]*pool{}, n: n, off: !on} }

func (l *leases) pool(ticketID string) *pool {
	p := l.pools[ticketID]
	if p == nil {
		p = &pool{free: make([]bool, l.n), wake: make(chan struct{})}
		for i := range p.free {
			p.free[i] = true
		}
		l.pools[ticketID] = p
	}
	return p
}

// one leases a random free shard of ticketID, waiting for one if need be.
func (l *leases) one(ctx context.Context, ticketID string) (int, func(), error) {
	if l.off {
		return rand.IntN(l.n), func() {}, nil
	}
	for {
		l.mu.Lock()
		p := l.pool(ticketID)
		var free []int
		for k, ok := range p.free {
			if ok {
				free = append(free, k)
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
	close(p.wake)
	p.wake = make(chan struct{})
	// A pool with every shard free holds nothing: drop it, so the map
	// holds only the ticket types being granted right now, not every
	// ticket type ever sold. A waiter woken above looks the pool up again.
	for _, free := range p.free {
		if !free {
			return
		}
	}
	delete(l.pools, ticketID)
}

// size is how many ticket types have a pool.
func (l *leases) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.pools)
}
