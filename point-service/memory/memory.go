// Package memory runs point-service on documents held in memory: the same
// use cases, step table and push routing as on Firestore, for the protocol
// model (modelcheck). It keeps documents and decides nothing: every rule
// is the application's and the domain's.
package memory

import (
	"context"
	"log/slog"
	"maps"

	"github.com/ticketsaga/saga/point-service/internal/app"
	"github.com/ticketsaga/saga/point-service/internal/point"
	"github.com/ticketsaga/saga/point-service/records"
	"github.com/ticketsaga/saga/shared/event"
	"github.com/ticketsaga/saga/shared/outbox"
	"github.com/ticketsaga/saga/shared/push"
	"github.com/ticketsaga/saga/shared/saga"
)

// Service is point-service in memory.
type Service struct {
	sagas    *outbox.Memory[records.Saga, *records.Saga]
	accounts map[string]int64
	push     push.Local
	app      *app.App
}

// New returns point-service in env, with no accounts.
func New(env outbox.Env) *Service {
	return build(&outbox.Memory[records.Saga, *records.Saga]{Service: saga.PointService, Env: env, Copy: records.Saga.Copy}, map[string]int64{})
}

func build(sagas *outbox.Memory[records.Saga, *records.Saga], accounts map[string]int64) *Service {
	s := &Service{sagas: sagas, accounts: accounts}
	s.app = &app.App{Store: store{s}, Log: slog.New(slog.DiscardHandler)}
	s.push = push.NewLocal(app.Table, s.app.Steps())
	return s
}

// Clone returns a copy of s in env.
func (s *Service) Clone(env outbox.Env) *Service {
	return build(s.sagas.Clone(env), maps.Clone(s.accounts))
}

// SetBalance is the admin's PUT /accounts/{user_id}.
func (s *Service) SetBalance(ctx context.Context, userID string, balance int64) error {
	return s.app.SetBalance(ctx, userID, balance)
}

// Deliver hands m to the push endpoint: nil when it is acked.
func (s *Service) Deliver(ctx context.Context, m event.Message) error {
	return s.push.Deliver(ctx, m)
}

// Accounts returns every balance, by user.
func (s *Service) Accounts() map[string]int64 { return maps.Clone(s.accounts) }

// EachSaga calls fn with every point saga, by order id, to read.
func (s *Service) EachSaga(fn func(id string, rec *records.Saga)) { s.sagas.Each(fn) }

// store is app.Store on the service's maps.
type store struct{ s *Service }

func (st store) Step(ctx context.Context, step string, in event.Envelope, userID string, decide app.Decide) (event.Message, error) {
	return st.s.sagas.Run(ctx, step, in, func(rec *records.Saga) (saga.Outcome, func(), error) {
		var acct *point.Account
		if b, ok := st.s.accounts[userID]; ok {
			acct = &point.Account{Balance: b}
		}
		next, changed, out, err := decide(rec.Domain(), acct, nil)
		if err != nil {
			return saga.Outcome{}, nil, err
		}
		rec.SetDomain(next)
		return out, func() {
			if changed != nil {
				st.s.accounts[userID] = changed.Balance
			}
		}, nil
	})
}

func (st store) SetBalance(_ context.Context, userID string, balance int64) error {
	st.s.accounts[userID] = balance
	return nil
}

func (st store) Balance(_ context.Context, userID string) (int64, error) {
	b, ok := st.s.accounts[userID]
	if !ok {
		return 0, saga.E(saga.NotFound, "account_not_found", "no account %s", userID)
	}
	return b, nil
}
