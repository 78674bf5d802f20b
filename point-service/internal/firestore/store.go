// Package firestore is point-service's storage adapter: accounts, and one
// saga document per order whose steps run through the typed outbox runner.
package firestore

import (
	"context"
	"fmt"

	"cloud.google.com/go/firestore"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ticketsaga/saga/point-service/internal/app"
	"github.com/ticketsaga/saga/point-service/internal/point"
	"github.com/ticketsaga/saga/point-service/records"
	"github.com/ticketsaga/saga/shared/event"
	"github.com/ticketsaga/saga/shared/outbox"
	"github.com/ticketsaga/saga/shared/saga"
)

// Store reads and writes point-service's documents.
type Store struct {
	fs    *firestore.Client
	steps outbox.Runner[records.Saga, *records.Saga]
}

var _ app.Store = (*Store)(nil)

// New returns a Store whose steps run through steps (on records.Sagas).
func New(fs *firestore.Client, steps *outbox.Steps) *Store {
	return &Store{fs: fs, steps: outbox.Runner[records.Saga, *records.Saga]{Steps: steps}}
}

func (s *Store) account(userID string) *firestore.DocumentRef {
	return s.fs.Collection(records.Accounts).Doc(userID)
}

// SetBalance creates or replaces userID's account.
func (s *Store) SetBalance(ctx context.Context, userID string, balance int64) error {
	_, err := s.account(userID).Set(ctx, records.Account{Balance: balance})
	return err
}

// Balance returns userID's balance, or a saga.NotFound error.
func (s *Store) Balance(ctx context.Context, userID string) (int64, error) {
	snap, err := s.account(userID).Get(ctx)
	if status.Code(err) == codes.NotFound {
		return 0, saga.E(saga.NotFound, "account_not_found", "no account %s", userID)
	}
	if err != nil {
		return 0, fmt.Errorf("read account %s: %w", userID, err)
	}
	acct, err := readAccount(snap)
	if err != nil {
		return 0, err
	}
	return acct.Balance, nil
}

// Step runs step with the order's saga and userID's account, read in one
// round trip.
func (s *Store) Step(ctx context.Context, step string, in event.Envelope, userID string, decide app.Decide) (event.Message, error) {
	ref := s.account(userID)
	return s.steps.Run(ctx, step, in, []*firestore.DocumentRef{ref},
		func(tx *firestore.Transaction, rec *records.Saga, docs []*firestore.DocumentSnapshot) (saga.Outcome, error) {
			var acct *point.Account
			var acctErr error
			if docs[0].Exists() {
				acct, acctErr = readAccount(docs[0])
			}
			next, newAcct, out, err := decide(rec.Domain(), acct, acctErr)
			if err != nil {
				return saga.Outcome{}, err
			}
			if newAcct != nil {
				if err := tx.Set(ref, records.Account{Balance: newAcct.Balance}); err != nil {
					return saga.Outcome{}, err
				}
			}
			rec.SetDomain(next)
			return out, nil
		})
}

func readAccount(snap *firestore.DocumentSnapshot) (*point.Account, error) {
	var a records.Account
	if err := snap.DataTo(&a); err != nil {
		return nil, saga.CorruptRecord("account "+snap.Ref.ID, err)
	}
	return &point.Account{Balance: a.Balance}, nil
}
