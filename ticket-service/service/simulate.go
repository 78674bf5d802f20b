package service

import (
	"fmt"

	"github.com/ticketsaga/saga/shared/config"
)

// EnvShardWriteRate is the bench's simulated production write limit on the
// stock shards: at most this many writes per second on each shard
// document (1 to 1000), which the Firestore emulator does not enforce and
// production Firestore does (docs/capacity.md). `make bench-flashsale`
// sets it; outside the emulators the service refuses to start with it.
const EnvShardWriteRate = "SIMULATED_SHARD_WRITE_RATE"

// shardWriteRate reads EnvShardWriteRate: 0 when unset.
func shardWriteRate(c config.Common, getenv func(string) string) (int, error) {
	if getenv(EnvShardWriteRate) == "" {
		return 0, nil
	}
	if !c.Emulated {
		return 0, fmt.Errorf("%s refuses to start outside the local emulators with %s set: it slows every stock write down "+
			"to simulate a production limit for the bench", c.Service, EnvShardWriteRate)
	}
	n, err := config.Int(getenv, EnvShardWriteRate, 0, 1, 1000)
	return int(n), err
}
