package firestore

import (
	"context"
	"sync"
	"time"
)

// shardCount returns ticketID's shard count: as remembered, or read from
// the ticket document outside any transaction (once for all the grants
// that ask at the same moment); 0 when the type cannot be read here, so
// that the grant takes the path that reads everything and decides.
func (s *Store) shardCount(ctx context.Context, ticketID string) int {
	if n := s.counts.get(ticketID); n > 0 {
		return n
	}
	v, _, _ := s.countFlight.Do(ticketID, func() (any, error) {
		// Not the first caller's context: the others wait on this read.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		snap, err := s.ticketRef(ticketID).Get(ctx)
		if err != nil {
			return 0, err
		}
		d, err := readTicket(snap)
		if err != nil {
			return 0, err
		}
		s.counts.set(ticketID, d.Shards)
		return d.Shards, nil
	})
	n, _ := v.(int)
	return n
}

// shardCounts remembers how many stock shards each ticket type has, as
// this instance last read or wrote it, for shardCountTTL: a grant leases
// one of that many shards without reading the ticket document (which would
// make it the hot spot again). An unknown or expired count is read from the
// ticket document once (shardCount), so at most one read a minute per
// ticket type and instance, never inside a grant's transaction. A count gone
// stale by a re-PUT costs only speed, never a wrong grant: a leased shard
// that no longer exists sends the grant to that path, which learns the new
// count, and a count too small leaves the extra shards to it until the
// entry expires.
type shardCounts struct {
	now func() time.Time
	mu  sync.Mutex
	m   map[string]shardCount
}

type shardCount struct {
	n  int
	at time.Time
}

const shardCountTTL = time.Minute

// pruneAt is how many ticket types the counts hold before the expired ones
// are forgotten.
const pruneAt = 4096

func newShardCounts() *shardCounts {
	return &shardCounts{now: time.Now, m: map[string]shardCount{}}
}

// get returns ticketID's shard count, 0 when unknown or expired.
func (c *shardCounts) get(ticketID string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[ticketID]
	if !ok || c.now().Sub(e.at) > shardCountTTL {
		return 0
	}
	return e.n
}

// set records that ticketID has n shards, and forgets the expired counts
// once there are many.
func (c *shardCounts) set(ticketID string, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	c.m[ticketID] = shardCount{n: n, at: now}
	if len(c.m) > pruneAt {
		for id, e := range c.m {
			if now.Sub(e.at) > shardCountTTL {
				delete(c.m, id)
			}
		}
	}
}
