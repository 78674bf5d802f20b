package firestore

import (
	"sync"
	"time"
)

// shardCounts remembers how many stock shards each ticket type has, as
// this instance last read or wrote it, for shardCountTTL: a grant leases
// one of that many shards without reading the ticket document (which would
// make it the hot spot again). Until a count is known, a grant takes the
// path that reads the ticket and every shard, which learns it. A count gone
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
