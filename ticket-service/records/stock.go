package records

import (
	"fmt"
	"maps"
	"math"
	"slices"

	"github.com/ticketsaga/saga/ticket-service/internal/ticket"
)

// How a ticket type's stock is stored: split over shard documents, so
// that many grants can run at once (one document takes about one write per
// second in production Firestore, and the emulator aborts a transaction
// that waits 2 s for a lock). The domain sees only how many tickets are
// available; which shards they are taken from and given back to is
// decided here and by the adapters.

// DefaultShards is how many shards a ticket type's stock is split over
// when its PUT does not say: upTo (the service's STOCK_SHARDS), but never
// more than it has tickets, since an empty shard only costs a read.
func DefaultShards(stock int64, upTo int) int {
	return int(max(1, min(stock, int64(upTo))))
}

// Split divides stock over n shards, the remainder on the first ones.
func Split(stock int64, n int) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = stock / int64(n)
		if int64(i) < stock%int64(n) {
			out[i]++
		}
	}
	return out
}

// SumStock adds the stock of shards; ok is false when a shard is negative
// or the sum would overflow (only a corrupt shard can do either).
func SumStock(shards []int64) (sum int64, ok bool) {
	for _, n := range shards {
		if n < 0 || sum > math.MaxInt64-n {
			return 0, false
		}
		sum += n
	}
	return sum, true
}

// Take chooses the shards a grant's tickets are taken from, out of the
// stock it was decided on (shard → tickets the shard holds): greedily, in
// shard order; none when d is not granted. An error when the shards do not
// hold d's quantity: the grant was decided on stock that is not there.
func Take(d ticket.Saga, stock map[int]int64) (map[int]int64, error) {
	if d.State != StateGranted {
		return nil, nil
	}
	take, need := map[int]int64{}, d.Quantity
	for _, k := range slices.Sorted(maps.Keys(stock)) {
		if st := stock[k]; st > 0 && need > 0 {
			take[k] = min(st, need)
			need -= take[k]
		}
	}
	if need != 0 {
		return nil, fmt.Errorf("%d tickets granted on shards holding %v", d.Quantity, stock)
	}
	return take, nil
}

// GiveBack maps the tickets a cancel puts back (shard → count) onto the
// shards the ticket type has now: shard k if it still exists, else k
// modulo their number (a re-PUT may have changed it).
func GiveBack(give map[int]int64, shards int) map[int]int64 {
	out := map[int]int64{}
	for k, n := range give {
		out[k%max(shards, 1)] += n
	}
	return out
}
