// Package store is point-service's Firestore adapter: accounts, and one saga
// document per order whose steps run through the shared outbox.
package store

import (
	"context"
	"errors"
	"fmt"

	"cloud.google.com/go/firestore"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ticketsaga/saga/point-service/internal/point"
	"github.com/ticketsaga/saga/shared/event"
	"github.com/ticketsaga/saga/shared/fault"
	"github.com/ticketsaga/saga/shared/outbox"
)

// Collections.
const (
	Accounts = "accounts"
	Sagas    = "point_sagas"
)

// Step names in the saga document.
const (
	StepConsume = "consume"
	StepRefund  = "refund"
)

// ErrNotFound is returned for an unknown account.
var ErrNotFound = errors.New("not found")

type accountDoc struct {
	Balance int64 `firestore:"balance"`
}

type sagaDoc struct {
	State  string `firestore:"state"`
	UserID string `firestore:"user_id"`
	Amount int64  `firestore:"amount"`
}

// Store reads and writes point-service's documents.
type Store struct {
	fs    *firestore.Client
	steps *outbox.Steps
}

// New returns a Store running its steps through steps.
func New(fs *firestore.Client, steps *outbox.Steps) *Store {
	return &Store{fs: fs, steps: steps}
}

// SetBalance creates or replaces userID's account.
func (s *Store) SetBalance(ctx context.Context, userID string, balance int64) error {
	if _, err := s.fs.Collection(Accounts).Doc(userID).Set(ctx, accountDoc{Balance: balance}); err != nil {
		return fmt.Errorf("set balance of %s: %w", userID, err)
	}
	return nil
}

// Balance returns userID's balance, or ErrNotFound.
func (s *Store) Balance(ctx context.Context, userID string) (int64, error) {
	snap, err := s.fs.Collection(Accounts).Doc(userID).Get(ctx)
	if status.Code(err) == codes.NotFound {
		return 0, ErrNotFound
	}
	if err != nil {
		return 0, fmt.Errorf("read account %s: %w", userID, err)
	}
	var a accountDoc
	if err := snap.DataTo(&a); err != nil {
		return 0, fault.Corrupt("account "+userID, err)
	}
	return a.Balance, nil
}

// Consume takes the order's price from its user, once per order, and
// returns the resulting event (consumed-point or failed-point).
func (s *Store) Consume(ctx context.Context, in event.Envelope) (event.Message, error) {
	acctRef := s.fs.Collection(Accounts).Doc(in.Order.UserID)
	return s.steps.Run(ctx, StepConsume, in, []*firestore.DocumentRef{acctRef},
		func(tx *firestore.Transaction, sagaSnap *firestore.DocumentSnapshot, docs []*firestore.DocumentSnapshot) (outbox.Decision, error) {
			saga, err := readSaga(sagaSnap)
			if err != nil {
				return outbox.Decision{}, err
			}
			acct, err := readAccount(docs[0])
			if errors.Is(err, fault.ErrCorrupt) {
				// An account that cannot be read cannot pay: the order
				// fails as for an unknown account, nothing taken.
				s.steps.Log.ErrorContext(ctx, "consume: the account cannot be read; failing the order as unknown_account", "order_id", in.ID, "error", err.Error())
				acct, err = nil, nil
			}
			if err != nil {
				return outbox.Decision{}, err
			}
			res := point.Consume(saga, acct, in.Order.UserID, in.Order.Price)
			if res.Account != nil {
				if err := tx.Set(acctRef, accountDoc{Balance: res.Account.Balance}); err != nil {
					return outbox.Decision{}, err
				}
			}
			d := outbox.Decision{Event: event.ConsumedPoint, Reason: res.Reason, Fields: sagaFields(res.Saga)}
			if res.Reason != "" {
				d.Event = event.FailedPoint
			}
			return d, nil
		})
}

// Refund gives back what the order took, once per order, and returns the
// refunded-point event. cause is the reason the saga is being undone.
func (s *Store) Refund(ctx context.Context, in event.Envelope, cause string) (event.Message, error) {
	// The saga's user is the envelope's: consume charged in.Order.UserID.
	acctRef := s.fs.Collection(Accounts).Doc(in.Order.UserID)
	return s.steps.Run(ctx, StepRefund, in, []*firestore.DocumentRef{acctRef},
		func(tx *firestore.Transaction, sagaSnap *firestore.DocumentSnapshot, docs []*firestore.DocumentSnapshot) (outbox.Decision, error) {
			saga, err := readSaga(sagaSnap)
			if err != nil {
				return outbox.Decision{}, err
			}
			// The refund credits whom the consume charged, what it
			// charged: an envelope naming another user is not this
			// order's (the account read above is the envelope's).
			if saga.UserID != "" && saga.UserID != in.Order.UserID {
				return outbox.Decision{}, fault.Permanent(fmt.Errorf("refund for user %s of an order that charged %s", in.Order.UserID, saga.UserID))
			}
			if saga.UserID == "" {
				saga.UserID = in.Order.UserID
			}
			acct, err := readAccount(docs[0])
			if errors.Is(err, fault.ErrCorrupt) && saga.State != point.StateConsumed {
				acct, err = nil, nil // a null refund needs no account
			}
			if err != nil {
				return outbox.Decision{}, err
			}
			res, err := point.Refund(saga, acct)
			if err != nil {
				return outbox.Decision{}, fault.Permanent(err)
			}
			if res.Account != nil {
				if err := tx.Set(acctRef, accountDoc{Balance: res.Account.Balance}); err != nil {
					return outbox.Decision{}, err
				}
			}
			return outbox.Decision{Event: event.RefundedPoint, Reason: cause, Fields: sagaFields(res.Saga)}, nil
		})
}

func readSaga(snap *firestore.DocumentSnapshot) (point.Saga, error) {
	if !snap.Exists() {
		return point.Saga{}, nil
	}
	var d sagaDoc
	if err := snap.DataTo(&d); err != nil {
		return point.Saga{}, fault.Corrupt("point saga "+snap.Ref.ID, err)
	}
	return point.Saga{State: point.State(d.State), UserID: d.UserID, Amount: d.Amount}, nil
}

func readAccount(snap *firestore.DocumentSnapshot) (*point.Account, error) {
	if !snap.Exists() {
		return nil, nil
	}
	var a accountDoc
	if err := snap.DataTo(&a); err != nil {
		return nil, fault.Corrupt("account "+snap.Ref.ID, err)
	}
	return &point.Account{Balance: a.Balance}, nil
}

func sagaFields(s point.Saga) map[string]any {
	return map[string]any{"state": string(s.State), "user_id": s.UserID, "amount": s.Amount}
}
