// Package records is ticket-service's documents in Firestore: the types its
// store writes, exported as read models, so that order-service's
// reconciliation and the operator's tools read them as typed values, not
// through field names of their own.
package records

import (
	"context"

	"cloud.google.com/go/firestore"

	"github.com/ticketsaga/saga/shared/outbox"
	"github.com/ticketsaga/saga/ticket-service/internal/app"
	"github.com/ticketsaga/saga/ticket-service/internal/ticket"
)

// Collections.
const (
	Tickets = "tickets"      // one document per ticket type: Ticket
	Shards  = "stock_shards" // under each ticket: Shard, numbered from 0
	Sagas   = "ticket_sagas" // one document per order: Saga
)

// Step names: the keys of a Saga's outbox.
const (
	StepGrant  = app.StepGrant
	StepCancel = app.StepCancel
)

// MaxShards is the most stock shards a ticket type can have (STOCK_SHARDS
// is at most this).
const MaxShards = 100

// Ticket is a ticket type: its unit price, and how many shards its stock
// is split over.
type Ticket struct {
	Price  int64 `firestore:"price"`
	Shards int   `firestore:"shards"`
}

// FieldStock is Shard's stock field, changed by increments.
const FieldStock = "stock"

// Shard is one part of a ticket type's stock. It repeats the price, so a
// grant reads only its shard: reading the ticket document in every grant
// would make that document the hot spot again.
type Shard struct {
	Stock int64 `firestore:"stock"`
	Price int64 `firestore:"price"`
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
