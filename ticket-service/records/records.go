// Package records is ticket-service's documents in Firestore: the types its
// store writes, exported as read models, so that order-service's
// reconciliation and the operator's tools read them as typed values, not
// through field names of their own.
package records

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strconv"

	"cloud.google.com/go/firestore"

	"github.com/ticketsaga/saga/shared/outbox"
	"github.com/ticketsaga/saga/ticket-service/internal/ticket"
)

// Names in Firestore: the collections, and the fields of a Shard that
// queries and updates name.
const (
	Tickets = "tickets"      // one document per ticket type: Ticket
	Shards  = "stock_shards" // every ticket type's Shards, at ShardID
	Sagas   = "ticket_sagas" // one document per order: Saga

	FieldStock    = "stock"
	FieldHasStock = "has_stock"
	FieldTicketID = "ticket_id"
	FieldShard    = "shard"
	FieldPrice    = "price"
)

// Step names: the keys of a Saga's outbox.
const (
	StepGrant  = ticket.StepGrant
	StepCancel = ticket.StepCancel
)

// MaxShards is the most stock shards a ticket type can have (STOCK_SHARDS
// and a PUT's shards are at most this).
const MaxShards = ticket.MaxShards

// Ticket is a ticket type: its unit price, and how many shards its stock
// is split over.
type Ticket struct {
	Price  int64 `firestore:"price"`
	Shards int   `firestore:"shards"`
}

// Shard is one part of a ticket type's stock. It repeats the price, so a
// grant reads only its shard: reading the ticket document in every grant
// would make that document the hot spot again.
type Shard struct {
	TicketID string `firestore:"ticket_id"`
	Index    int    `firestore:"shard"`
	Stock    int64  `firestore:"stock"`
	// HasStock is Stock > 0, kept by every write: the last tickets are
	// found by it (an equality the index serves in any order), and it
	// changes only when a shard empties or fills again.
	HasStock bool  `firestore:"has_stock"`
	Price    int64 `firestore:"price"`
}

// ShardID is the document id of shard k of ticketID, in the Shards
// collection. It begins with a hash of both, so that a type's shards are
// scattered over the collection's key range: thousands of shards written
// at the rate of a sale would otherwise be one narrow range of keys, which
// Firestore serves from one split until it has ramped up (500/50/5).
func ShardID(ticketID string, k int) string {
	sum := sha256.Sum256([]byte(ticketID + "/" + strconv.Itoa(k)))
	return hex.EncodeToString(sum[:6]) + "_" + strconv.Itoa(k) + "_" + ticketID
}

// Saga is ticket-service's record of one order: what its steps did, and
// the events they caused. A user's tickets are their granted sagas.
type Saga struct {
	outbox.Outbox
	State    State            `firestore:"state"`
	UserID   string           `firestore:"user_id"`
	TicketID string           `firestore:"ticket_id"`
	Quantity int64            `firestore:"quantity"`
	Taken    map[string]int64 `firestore:"taken,omitempty"` // shard → tickets taken, while granted
}

// State is where one order stands in ticket-service: a Saga's State.
type State = ticket.State

// States of a Saga.
const (
	StateGranted   = ticket.StateGranted
	StateFailed    = ticket.StateFailed
	StateCancelled = ticket.StateCancelled
)

// Fields of Saga that queries use.
const (
	FieldUserID = "user_id"
	FieldState  = "state"
)

// ReadSaga returns the ticket saga of order id, nil when there is none, or
// a saga.Corrupt error when it cannot be read.
func ReadSaga(ctx context.Context, fs *firestore.Client, id string) (*Saga, error) {
	return outbox.Read[Saga](ctx, fs, Sagas, id)
}

// Domain is the saga as ticket-service's domain sees it; an error when its
// shards are not shards.
func (s *Saga) Domain() (ticket.Saga, error) {
	if _, err := s.takenFrom(); err != nil {
		return ticket.Saga{}, err
	}
	return ticket.Saga{State: s.State, UserID: s.UserID, TicketID: s.TicketID, Quantity: s.Quantity}, nil
}

// SetDomain sets the saga's fields from d (not its outbox), and taken: the
// shards its tickets were taken from (shard → tickets), nil when it holds
// none.
func (s *Saga) SetDomain(d ticket.Saga, taken map[int]int64) {
	s.State, s.UserID, s.TicketID, s.Quantity = d.State, d.UserID, d.TicketID, d.Quantity
	s.Taken = nil
	for k, n := range taken {
		if n == 0 {
			continue
		}
		if s.Taken == nil {
			s.Taken = map[string]int64{}
		}
		s.Taken[strconv.Itoa(k)] = n
	}
}

// GiveBack says where the n tickets a cancel puts back go (shard →
// tickets): to the shards the saga's grant took them from, mapped onto the
// shards the ticket type has now (GiveBack). An error when the saga does
// not hold exactly n, or its shards are not shards.
func (s *Saga) GiveBack(n int64, shards int) (map[int]int64, error) {
	taken, err := s.takenFrom()
	if err != nil {
		return nil, err
	}
	if sum, ok := SumStock(slices.Collect(maps.Values(taken))); !ok || sum != n {
		return nil, fmt.Errorf("%d tickets to give back, taken from shards %v", n, s.Taken)
	}
	return GiveBack(taken, shards), nil
}

// takenFrom is the saga's taken by shard number.
func (s *Saga) takenFrom() (map[int]int64, error) {
	taken := map[int]int64{}
	for k, n := range s.Taken {
		i, err := strconv.Atoi(k)
		if err != nil || i < 0 || i >= MaxShards || n < 0 {
			return nil, fmt.Errorf("bad shard %q: %d", k, n)
		}
		taken[i] = n
	}
	return taken, nil
}

// Copy returns a copy of s that shares nothing a step changes.
func (s Saga) Copy() Saga {
	s.Outbox = s.Outbox.Clone()
	s.Taken = maps.Clone(s.Taken)
	return s
}
