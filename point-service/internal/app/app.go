// Package app is point-service's application layer: its step table (which
// event runs which step), its steps, and its admin use cases. It decides
// with the domain (package point) and leaves storage to a Store.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/ticketsaga/saga/point-service/internal/point"
	"github.com/ticketsaga/saga/shared/event"
	"github.com/ticketsaga/saga/shared/saga"
)

// Step names: the keys of the steps' events in the saga document.
const (
	StepConsume = point.StepConsume
	StepRefund  = point.StepRefund
)

// Table is point-service's step table: the only place that says which
// events it handles.
var Table = saga.Steps{
	// A new order pays first: the price leaves the account or the order
	// fails with the reason.
	saga.StartedOrder: StepConsume,
	// Both ways the ticket can be lost give the points back: failed-ticket
	// carries the ticket's reason, canceled-ticket follows a timeout.
	saga.FailedTicket:   StepRefund,
	saga.CanceledTicket: StepRefund,
}

// Steps returns the steps Table names.
func (a *App) Steps() map[string]event.Step {
	return map[string]event.Step{StepConsume: a.consume, StepRefund: a.refund}
}

// Decide decides a step from the order's point saga and the account it
// names: acct is nil when there is none, acctErr says it cannot be read.
// It returns the new saga, the new account (nil: unchanged) and the outcome.
type Decide func(s point.Saga, acct *point.Account, acctErr error) (point.Saga, *point.Account, saga.Outcome, error)

// Store is what the use cases need of storage.
type Store interface {
	// Step runs step for in's order at most once, in one transaction
	// with the order's point saga and userID's account (see Decide), and
	// returns its event (the stored one if it ran before).
	Step(ctx context.Context, step string, in event.Envelope, userID string, decide Decide) (event.Message, error)
	SetBalance(ctx context.Context, userID string, balance int64) error
	// Balance returns userID's balance, or a saga.NotFound error.
	Balance(ctx context.Context, userID string) (int64, error)
}

// App is point-service's use cases.
type App struct {
	Store Store
	Log   *slog.Logger
}

// consume takes the order's price from its user, once per order.
func (a *App) consume(ctx context.Context, _ saga.EventType, in event.Envelope) (event.Message, error) {
	return a.Store.Step(ctx, StepConsume, in, in.Order.UserID, func(s point.Saga, acct *point.Account, acctErr error) (point.Saga, *point.Account, saga.Outcome, error) {
		if saga.KindOf(acctErr) == saga.Corrupt {
			// An account that cannot be read cannot pay: the order
			// fails as for an unknown account, nothing taken.
			a.Log.ErrorContext(ctx, "consume: the account cannot be read; failing the order as unknown_account", "order_id", in.ID, "error", acctErr.Error())
			acct, acctErr = nil, nil
		}
		if acctErr != nil {
			return point.Saga{}, nil, saga.Outcome{}, acctErr
		}
		res := point.Consume(s, acct, in.Order.UserID, in.Order.Price)
		return res.Saga, res.Account, saga.Forward(saga.ConsumedPoint, saga.FailedPoint, res.Reason), nil
	})
}

// refund gives back what the order took, once per order: on failed-ticket
// (the cause is the ticket's reason) and on canceled-ticket (a timeout).
func (a *App) refund(ctx context.Context, t saga.EventType, in event.Envelope) (event.Message, error) {
	cause := saga.ReasonTimeout
	if t == saga.FailedTicket {
		if in.Ticket == nil || in.Ticket.Reason == "" {
			return event.Message{}, saga.Poison("failed-ticket without a reason")
		}
		cause = in.Ticket.Reason
	}
	return a.Store.Step(ctx, StepRefund, in, in.Order.UserID, func(s point.Saga, acct *point.Account, acctErr error) (point.Saga, *point.Account, saga.Outcome, error) {
		if acctErr != nil && s.State != point.StateConsumed {
			acct, acctErr = nil, nil // a null refund needs no account
		}
		if acctErr != nil {
			return point.Saga{}, nil, saga.Outcome{}, acctErr
		}
		res, err := point.Refund(s, acct, in.Order.UserID)
		if errors.Is(err, point.ErrNotTheirs) || errors.Is(err, point.ErrOverflow) {
			return point.Saga{}, nil, saga.Outcome{}, saga.Wrap(saga.Permanent, "refund_refused", err)
		}
		if err != nil {
			return point.Saga{}, nil, saga.Outcome{}, err
		}
		return res.Saga, res.Account, saga.Outcome{Event: saga.RefundedPoint, Reason: cause}, nil
	})
}

// SetBalance creates or replaces userID's account (admin).
func (a *App) SetBalance(ctx context.Context, userID string, balance int64) error {
	if balance < 0 || balance > saga.MaxAmount {
		return saga.E(saga.Invalid, "invalid_balance", "balance must be 0 to %d", int64(saga.MaxAmount))
	}
	if err := a.Store.SetBalance(ctx, userID, balance); err != nil {
		return fmt.Errorf("set balance of %s: %w", userID, err)
	}
	return nil
}

// Balance returns userID's balance, or a saga.NotFound error.
func (a *App) Balance(ctx context.Context, userID string) (int64, error) {
	return a.Store.Balance(ctx, userID)
}
