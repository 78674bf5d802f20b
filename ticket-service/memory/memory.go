// Package memory runs ticket-service on documents held in memory: the same
// use cases, step table and push routing as on Firestore, for the protocol
// model (modelcheck). It keeps documents and decides nothing: every rule
// is the application's and the domain's.
package memory

import (
	"context"
	"fmt"
	"log/slog"
	"slices"

	"github.com/ticketsaga/saga/shared/event"
	"github.com/ticketsaga/saga/shared/outbox"
	"github.com/ticketsaga/saga/shared/push"
	"github.com/ticketsaga/saga/shared/saga"
	"github.com/ticketsaga/saga/ticket-service/internal/app"
	"github.com/ticketsaga/saga/ticket-service/internal/ticket"
	"github.com/ticketsaga/saga/ticket-service/records"
)

// Service is ticket-service in memory.
type Service struct {
	sagas   *outbox.Memory[records.Saga, *records.Saga]
	tickets map[string]stock
	shards  int
	push    push.Local
	app     *app.App
}

// stock is a ticket type and its stock shards.
type stock struct {
	price  int64
	shards []int64
}

// New returns ticket-service in env, with no tickets; the stock of a ticket
// type PUT is split over shards documents (1 to 100).
func New(env outbox.Env, shards int) *Service {
	return build(&outbox.Memory[records.Saga, *records.Saga]{Service: saga.TicketService, Env: env, Copy: records.Saga.Copy}, map[string]stock{}, shards)
}

func build(sagas *outbox.Memory[records.Saga, *records.Saga], tickets map[string]stock, shards int) *Service {
	s := &Service{sagas: sagas, tickets: tickets, shards: shards}
	s.app = &app.App{Store: store{s}, Log: slog.New(slog.DiscardHandler)}
	s.push = push.NewLocal(app.Table, s.app.Steps())
	return s
}

// Clone returns a copy of s in env.
func (s *Service) Clone(env outbox.Env) *Service {
	tickets := make(map[string]stock, len(s.tickets))
	for id, t := range s.tickets {
		tickets[id] = stock{price: t.price, shards: slices.Clone(t.shards)}
	}
	return build(s.sagas.Clone(env), tickets, s.shards)
}

// PutTicket is the admin's PUT /tickets/{ticket_id} naming its shards:
// the ones New was given, even beyond the stock, so that the protocol
// model meets empty shards.
func (s *Service) PutTicket(ctx context.Context, id string, price, stock int64) error {
	return s.app.PutTicket(ctx, id, price, stock, s.shards)
}

// Deliver hands m to the push endpoint: nil when it is acked.
func (s *Service) Deliver(ctx context.Context, m event.Message) error {
	return s.push.Deliver(ctx, m)
}

// Stock returns the stock of every ticket type, by id, and each shard's.
func (s *Service) Stock() map[string][]int64 {
	out := map[string][]int64{}
	for id, t := range s.tickets {
		out[id] = slices.Clone(t.shards)
	}
	return out
}

// Holdings is GET /users/{user_id}/tickets.
func (s *Service) Holdings(ctx context.Context, userID string) ([]ticket.Holding, error) {
	return s.app.Holdings(ctx, userID)
}

// EachSaga calls fn with every ticket saga, by order id, to read.
func (s *Service) EachSaga(fn func(id string, rec *records.Saga)) { s.sagas.Each(fn) }

// store is app.Store on the service's maps.
type store struct{ s *Service }

func (st store) Grant(ctx context.Context, in event.Envelope, decide app.GrantDecide) (event.Message, error) {
	id := in.Order.TicketID
	return st.s.sagas.Run(ctx, app.StepGrant, in, func(rec *records.Saga) (saga.Outcome, func(), error) {
		cur, err := rec.Domain()
		if err != nil {
			return saga.Outcome{}, nil, saga.CorruptRecord("ticket saga "+in.ID, err)
		}
		// Every shard is read: the grant is decided on all the stock.
		var t *ticket.Ticket
		var available int64
		shards := map[int]int64{}
		if have, ok := st.s.tickets[id]; ok {
			t = &ticket.Ticket{Price: have.price}
			for k, n := range have.shards {
				shards[k] = n
				available += n
			}
		}
		res, out, err := decide(cur, t, nil, available)
		if err != nil {
			return saga.Outcome{}, nil, err
		}
		take, err := records.Take(res.Saga, shards)
		if err != nil {
			return saga.Outcome{}, nil, err
		}
		rec.SetDomain(res.Saga, take)
		return out, func() {
			for k, n := range take {
				st.s.tickets[id].shards[k] -= n
			}
		}, nil
	})
}

func (st store) Cancel(ctx context.Context, in event.Envelope, decide app.CancelDecide) (event.Message, error) {
	return st.s.sagas.Run(ctx, app.StepCancel, in, func(rec *records.Saga) (saga.Outcome, func(), error) {
		cur, err := rec.Domain()
		if err != nil {
			return saga.Outcome{}, nil, saga.CorruptRecord("ticket saga "+in.ID, err)
		}
		res, out, err := decide(cur)
		if err != nil {
			return saga.Outcome{}, nil, err
		}
		have, ok := st.s.tickets[res.Saga.TicketID]
		if res.Give > 0 && !ok {
			return saga.Outcome{}, nil, saga.CorruptRecord("ticket "+res.Saga.TicketID, fmt.Errorf("missing"))
		}
		give, err := rec.GiveBack(res.Give, len(have.shards))
		if err != nil {
			return saga.Outcome{}, nil, saga.CorruptRecord("ticket saga "+in.ID, err)
		}
		rec.SetDomain(res.Saga, nil)
		return out, func() {
			for k, n := range give {
				have.shards[k] += n
			}
		}, nil
	})
}

func (st store) PutTicket(_ context.Context, id string, price, total int64, shards int) error {
	if shards == 0 {
		shards = records.DefaultShards(total, st.s.shards)
	}
	st.s.tickets[id] = stock{price: price, shards: records.Split(total, shards)}
	return nil
}

func (st store) Ticket(_ context.Context, id string) (app.Stock, error) {
	t, ok := st.s.tickets[id]
	if !ok {
		return app.Stock{}, saga.E(saga.NotFound, "ticket_not_found", "no ticket %s", id)
	}
	sum, _ := records.SumStock(t.shards)
	return app.Stock{Price: t.price, Stock: sum, Shards: len(t.shards)}, nil
}

func (st store) Holdings(_ context.Context, userID string) ([]ticket.Saga, error) {
	var out []ticket.Saga
	for _, id := range st.s.sagas.IDs() {
		rec, _ := st.s.sagas.Get(id)
		d, err := rec.Domain()
		if err != nil {
			return nil, saga.CorruptRecord("ticket saga "+id, err)
		}
		if d.UserID == userID && d.State == ticket.StateGranted {
			out = append(out, d)
		}
	}
	return out, nil
}
