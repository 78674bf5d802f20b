// Package records is point-service's documents in Firestore: the types its
// store writes, exported as read models, so that order-service's
// reconciliation and the operator's tools read them as typed values, not
// through field names of their own.
package records

import (
	"context"

	"cloud.google.com/go/firestore"

	"github.com/ticketsaga/saga/point-service/internal/point"
	"github.com/ticketsaga/saga/shared/outbox"
)

// Collections.
const (
	Accounts = "accounts"    // one document per user: Account
	Sagas    = "point_sagas" // one document per order: Saga
)

// Step names: the keys of a Saga's outbox.
const (
	StepConsume = point.StepConsume
	StepRefund  = point.StepRefund
)

// Account is a user's balance.
type Account struct {
	Balance int64 `firestore:"balance"`
}

// State is where one order stands in point-service.
type State = point.State

// States of a Saga.
const (
	StateConsumed = point.StateConsumed
	StateFailed   = point.StateFailed
	StateRefunded = point.StateRefunded
)

// Saga is point-service's record of one order: what its steps did, and
// the events they caused.
type Saga struct {
	outbox.Outbox
	State  State  `firestore:"state"`
	UserID string `firestore:"user_id"`
	Amount int64  `firestore:"amount"` // points taken
}

// ReadSaga returns the point saga of order id, nil when there is none, or
// a saga.Corrupt error when it cannot be read.
func ReadSaga(ctx context.Context, fs *firestore.Client, id string) (*Saga, error) {
	return outbox.Read[Saga](ctx, fs, Sagas, id)
}

// Domain is the saga as point-service's domain sees it.
func (s *Saga) Domain() point.Saga {
	return point.Saga{State: s.State, UserID: s.UserID, Amount: s.Amount}
}

// SetDomain sets the saga's fields from d (not its outbox).
func (s *Saga) SetDomain(d point.Saga) { s.State, s.UserID, s.Amount = d.State, d.UserID, d.Amount }

// Copy returns a copy of s that shares nothing a step changes.
func (s Saga) Copy() Saga {
	s.Outbox = s.Outbox.Clone()
	return s
}
