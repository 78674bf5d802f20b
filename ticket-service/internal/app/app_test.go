package app

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"testing"

	"github.com/ticketsaga/saga/shared/event"
	"github.com/ticketsaga/saga/shared/saga"
	"github.com/ticketsaga/saga/ticket-service/internal/ticket"
)

// stockStore decides grants and cancels on a saga and stock shards held
// in memory, as the Firestore store does: it offers a grant the stock of
// one shard when that shard holds the quantity, else all the stock there
// is, and takes the granted tickets from the shards it offered; a cancel
// puts back the tickets it gives to the shards they were taken from.
type stockStore struct {
	Store
	saga    ticket.Saga
	ticket  *ticket.Ticket
	typeErr error
	shards  map[int]int64
	taken   map[int]int64 // shard → tickets the saga's grant took
	decided []int64       // the stock each grant was decided on
}

func (f *stockStore) Grant(_ context.Context, in event.Envelope, decide GrantDecide) (event.Message, error) {
	offer := map[int]int64{0: f.shards[0]}
	if f.shards[0] < in.Order.Quantity {
		offer = maps.Clone(f.shards) // every shard: a complete view
	}
	var available int64
	for _, n := range offer {
		available += n
	}
	f.decided = append(f.decided, available)
	res, out, err := decide(f.saga, f.ticket, f.typeErr, available)
	if err != nil {
		return event.Message{}, err
	}
	f.saga, f.taken = res.Saga, map[int]int64{}
	need := res.Saga.Quantity
	for _, k := range slices.Sorted(maps.Keys(offer)) {
		n := min(offer[k], need)
		f.shards[k] -= n
		f.taken[k] += n
		need -= n
	}
	if need != 0 {
		return event.Message{}, fmt.Errorf("granted %d on %d available", res.Saga.Quantity, available)
	}
	return event.Message{Type: out.Event, Attributes: map[string]string{"reason": out.Reason}}, nil
}

func (f *stockStore) Cancel(_ context.Context, _ event.Envelope, decide CancelDecide) (event.Message, error) {
	res, out, err := decide(f.saga)
	if err != nil {
		return event.Message{}, err
	}
	var taken int64
	for _, n := range f.taken {
		taken += n
	}
	if taken != res.Give {
		return event.Message{}, fmt.Errorf("gives back %d of %d taken", res.Give, taken)
	}
	f.saga = res.Saga
	for k, n := range f.taken {
		f.shards[k] += n
	}
	f.taken = nil
	return event.Message{Type: out.Event, Attributes: map[string]string{"reason": out.Reason}}, nil
}

// TestGrantThenCancel: a grant takes from the shards it needs, offered
// all of them only when the first cannot serve; a cancel puts back what it
// took; an unreadable ticket type fails the order as unknown; with fewer
// tickets than the order wants, it is sold out.
func TestGrantThenCancel(t *testing.T) {
	t.Parallel()
	if err := saga.CheckSteps(Table, (&App{}).Steps()); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	in := event.Envelope{ID: "o1", Order: &event.Order{UserID: "u1", TicketID: "t1", Quantity: 3, Price: 30}}
	store := &stockStore{ticket: &ticket.Ticket{Price: 10}, shards: map[int]int64{0: 1, 1: 5}}
	a := &App{Store: store, Log: slog.New(slog.DiscardHandler)}
	steps := a.Steps()

	m, err := steps[Table[saga.ConsumedPoint]](ctx, saga.ConsumedPoint, in)
	if err != nil || m.Type != saga.GrantedTicket || store.shards[0]+store.shards[1] != 3 || !slices.Equal(store.decided, []int64{6}) {
		t.Fatalf("grant = %s %v, shards %v", m.Type, err, store.shards)
	}
	m, err = steps[Table[saga.StoppedOrder]](ctx, saga.StoppedOrder, in)
	if err != nil || m.Type != saga.CanceledTicket || m.Attributes["reason"] != saga.ReasonTimeout || !maps.Equal(store.shards, map[int]int64{0: 1, 1: 5}) {
		t.Fatalf("cancel = %s %v, shards %v", m.Type, err, store.shards)
	}
	m, err = steps[Table[saga.ConsumedPoint]](ctx, saga.ConsumedPoint, in)
	if err != nil || m.Type != saga.FailedTicket || m.Attributes["reason"] != saga.ReasonTimeout {
		t.Fatalf("late grant = %s %q %v, want failed-ticket timeout", m.Type, m.Attributes["reason"], err)
	}

	short := &stockStore{ticket: &ticket.Ticket{Price: 10}, shards: map[int]int64{0: 1, 1: 1}}
	a.Store = short
	in2 := event.Envelope{ID: "o2", Order: in.Order}
	m, err = steps[Table[saga.ConsumedPoint]](ctx, saga.ConsumedPoint, in2)
	if err != nil || m.Type != saga.FailedTicket || m.Attributes["reason"] != saga.ReasonSoldOut || short.shards[0]+short.shards[1] != 2 {
		t.Fatalf("grant of 3 out of 2 = %s %q %v, shards %v; want failed-ticket sold_out", m.Type, m.Attributes["reason"], err, short.shards)
	}

	broken := &stockStore{typeErr: saga.E(saga.Corrupt, "corrupt_record", "ticket t1 cannot be read"), shards: map[int]int64{0: 9}}
	a.Store = broken
	m, err = steps[Table[saga.ConsumedPoint]](ctx, saga.ConsumedPoint, in)
	if err != nil || m.Type != saga.FailedTicket || m.Attributes["reason"] != saga.ReasonUnknownTicket {
		t.Fatalf("unreadable type = %s %q %v, want failed-ticket unknown_ticket", m.Type, m.Attributes["reason"], err)
	}
}

// TestCancelOfAnotherOrderIsRefused: a cancel naming another user or
// ticket than the grant did is permanent, and puts nothing back.
func TestCancelOfAnotherOrderIsRefused(t *testing.T) {
	t.Parallel()
	store := &stockStore{saga: ticket.Saga{State: ticket.StateGranted, UserID: "u2", TicketID: "t1", Quantity: 2}, shards: map[int]int64{0: 0}, taken: map[int]int64{0: 2}}
	a := &App{Store: store}
	in := event.Envelope{ID: "o1", Order: &event.Order{UserID: "u1", TicketID: "t1", Quantity: 2, Price: 20}}
	if _, err := a.Steps()[StepCancel](context.Background(), saga.StoppedOrder, in); !saga.IsPermanent(err) {
		t.Fatalf("err = %v, want permanent", err)
	}
	if store.shards[0] != 0 {
		t.Errorf("shards %v: something was put back", store.shards)
	}
}

// TestPutTicketRange: prices of 1..2^53-1, stocks of 0..2^53-1 and 0
// (the default) to ticket.MaxShards shards only.
func TestPutTicketRange(t *testing.T) {
	t.Parallel()
	a := &App{Store: &stockStore{}}
	for _, c := range [][3]int64{{0, 1, 0}, {saga.MaxAmount + 1, 1, 0}, {1, -1, 0}, {1, saga.MaxAmount + 1, 0}, {1, 1, -1}, {1, 1, ticket.MaxShards + 1}} {
		if err := a.PutTicket(context.Background(), "t1", c[0], c[1], int(c[2])); saga.KindOf(err) != saga.Invalid {
			t.Errorf("PutTicket(price %d, stock %d, shards %d) = %v, want Invalid", c[0], c[1], c[2], err)
		}
	}
}
