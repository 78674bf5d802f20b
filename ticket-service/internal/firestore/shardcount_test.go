package firestore

import (
	"testing"
	"time"
)

// A ticket type's shard count is remembered for a minute, then forgotten.
func TestShardCounts(t *testing.T) {
	t.Parallel()
	now := time.Unix(1000, 0)
	c := newShardCounts()
	c.now = func() time.Time { return now }
	if n := c.get("show"); n != 0 {
		t.Fatalf("unknown ticket: %d", n)
	}
	c.set("show", 8)
	now = now.Add(shardCountTTL)
	if n := c.get("show"); n != 8 {
		t.Fatalf("after %s: %d, want 8", shardCountTTL, n)
	}
	now = now.Add(time.Second)
	if n := c.get("show"); n != 0 {
		t.Fatalf("expired: %d, want 0", n)
	}
}
