// Package point is point-service's domain: account balances and the
// per-order consume/refund state machine. It knows nothing of Firestore or
// Pub/Sub.
package point

import (
	"errors"
	"fmt"
	"math"

	"github.com/ticketsaga/saga/shared/saga"
)

// Step names: the steps of point-service, and the keys of their events in its
// saga documents.
const (
	StepConsume = "consume"
	StepRefund  = "refund"
)

// State is where one order stands in point-service.
type State string

const (
	StateNone     State = ""
	StateConsumed State = "consumed"
	StateFailed   State = "failed"
	StateRefunded State = "refunded"
)

// Saga is point-service's record of one order.
type Saga struct {
	State  State
	UserID string
	Amount int64 // points taken, when State is StateConsumed or StateRefunded after it
}

// Account is a user's balance; nil means the account does not exist.
type Account struct {
	Balance int64
}

// ConsumeResult is the consume step's decision.
type ConsumeResult struct {
	Saga    Saga
	Account *Account // the new balance, nil when unchanged
	Reason  string   // empty when the points were taken
}

// Consume decides whether userID pays amount for the order.
func Consume(s Saga, acct *Account, userID string, amount int64) ConsumeResult {
	switch {
	case s.State == StateRefunded:
		// The compensation came first: block the late action.
		return ConsumeResult{Saga: s, Reason: saga.ReasonTimeout}
	case acct == nil:
		return ConsumeResult{Saga: Saga{State: StateFailed, UserID: userID}, Reason: saga.ReasonUnknownAccount}
	case acct.Balance < amount:
		return ConsumeResult{Saga: Saga{State: StateFailed, UserID: userID}, Reason: saga.ReasonInsufficientPoints}
	}
	return ConsumeResult{
		Saga:    Saga{State: StateConsumed, UserID: userID, Amount: amount},
		Account: &Account{Balance: acct.Balance - amount},
	}
}

// RefundResult is the refund step's decision.
type RefundResult struct {
	Saga    Saga
	Account *Account // the new balance, nil when unchanged
}

// ErrOverflow: a refund would take a balance past what an int64 holds,
// which only a corrupt balance can make happen (balances are at most 2^53-1
// when set, and a refund gives back what was taken).
var ErrOverflow = errors.New("refund would overflow the balance")

// ErrNotTheirs: the refund names another user than the one the order
// charged: it is not this order's.
var ErrNotTheirs = errors.New("refund for another user than the order charged")

// Refund gives back what the order took, to whom it took it from (userID is
// whom the event names; the saga says whom the order charged). With nothing
// taken it is a null compensation: it records that it ran, so a late
// consume is blocked.
func Refund(s Saga, acct *Account, userID string) (RefundResult, error) {
	if s.UserID != "" && s.UserID != userID {
		return RefundResult{}, fmt.Errorf("%w: %s, not %s", ErrNotTheirs, userID, s.UserID)
	}
	if s.State != StateConsumed {
		return RefundResult{Saga: Saga{State: StateRefunded, UserID: userID}}, nil
	}
	next := Saga{State: StateRefunded, UserID: s.UserID, Amount: s.Amount}
	if acct == nil {
		// The account was deleted since; nothing to credit.
		return RefundResult{Saga: next}, nil
	}
	if s.Amount < 0 || acct.Balance > math.MaxInt64-s.Amount {
		return RefundResult{}, fmt.Errorf("%w: balance %d + %d", ErrOverflow, acct.Balance, s.Amount)
	}
	return RefundResult{Saga: next, Account: &Account{Balance: acct.Balance + s.Amount}}, nil
}
