// Package store is order-service's Firestore adapter. The order document is
// also order-service's saga document: it holds the started-order event in
// its outbox, and its snapshots drive the long-poll.
package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"cloud.google.com/go/firestore"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ticketsaga/saga/order-service/internal/order"
	"github.com/ticketsaga/saga/shared/event"
	"github.com/ticketsaga/saga/shared/fault"
	"github.com/ticketsaga/saga/shared/outbox"
)

// Orders is the collection of order documents.
const Orders = "orders"

// Step names in the order document's outbox.
const (
	StepStart = "start"
	StepStop  = "stop"
)

var (
	// ErrNotFound: no such order.
	ErrNotFound = errors.New("order not found")
	// ErrKeyReused: an Idempotency-Key came back with a different body.
	ErrKeyReused = errors.New("idempotency key reused with a different body")
)

type entryDoc struct {
	EventType string    `firestore:"event_type"`
	Service   string    `firestore:"service"`
	At        time.Time `firestore:"at"`
}

type orderDoc struct {
	UserID      string     `firestore:"user_id"`
	TicketID    string     `firestore:"ticket_id"`
	Quantity    int64      `firestore:"quantity"`
	Price       int64      `firestore:"price"`
	Status      string     `firestore:"status"`
	Reason      string     `firestore:"reason"`
	CreatedAt   time.Time  `firestore:"created_at"`
	UpdatedAt   time.Time  `firestore:"updated_at"`
	History     []entryDoc `firestore:"history"`
	Fingerprint string     `firestore:"fingerprint"`

	// The outbox, as in outbox.Doc.
	Steps   map[string]event.Message `firestore:"steps,omitempty"`
	Pending []string                 `firestore:"outbox_pending,omitempty"`

	// Self-healing of a stopping order (order.Recovery). NextReplay is
	// absent unless a replay is due, so the sweep's query on it finds only
	// stopping orders.
	StoppedAt  *time.Time `firestore:"stopped_at,omitempty"`
	NextReplay *time.Time `firestore:"next_replay,omitempty"`
	Replays    int        `firestore:"replays,omitempty"`
	GaveUp     bool       `firestore:"gave_up,omitempty"`
}

// Fields of the order document the sweep queries.
const (
	fieldStatus     = "status"
	fieldCreatedAt  = "created_at"
	fieldNextReplay = "next_replay"
)

// Store reads and writes orders.
type Store struct {
	fs      *firestore.Client
	steps   *outbox.Steps
	waiters waiters
	// ListenAfter is how long a long-poll on an order this instance has
	// just created waits before it also listens to the order document (see
	// Watch); 0 listens at once.
	ListenAfter time.Duration
	// remoteSettle is when (Unix ns) a long-poll here last heard its order
	// settled through the listener: by another instance.
	remoteSettle atomic.Int64
}

// New returns a Store publishing through steps.
func New(fs *firestore.Client, steps *outbox.Steps) *Store {
	return &Store{fs: fs, steps: steps}
}

func (s *Store) ref(id string) *firestore.DocumentRef { return s.fs.Collection(Orders).Doc(id) }

// Create stores o with its started-order event start, unless an order with
// o's id exists: then, if it was made from the same request (fingerprint),
// that order is returned instead; otherwise ErrKeyReused. The started-order
// event is published, or re-published while it is still pending. created
// says o is new.
func (s *Store) Create(ctx context.Context, o order.Order, fingerprint string, start event.Message) (order.Order, bool, error) {
	ref := s.ref(o.ID)
	doc := toDoc(o)
	doc.Fingerprint = fingerprint
	doc.Steps = map[string]event.Message{StepStart: start}
	doc.Pending = []string{StepStart}
	// Create is atomic on its own (it fails if the document exists), so a
	// new order costs one write and no transaction.
	_, err := ref.Create(ctx, doc)
	out, publish, created := o, start, err == nil
	switch {
	case status.Code(err) == codes.AlreadyExists:
		snap, err := ref.Get(ctx)
		if err != nil {
			return order.Order{}, false, fmt.Errorf("read order %s: %w", o.ID, err)
		}
		var d orderDoc
		if err := snap.DataTo(&d); err != nil {
			return order.Order{}, false, fault.Corrupt("order "+o.ID, err)
		}
		if d.Fingerprint != fingerprint {
			return order.Order{}, false, fmt.Errorf("create order %s: %w", o.ID, ErrKeyReused)
		}
		out = fromDoc(o.ID, d)
		stored, ok := d.Steps[StepStart]
		if !ok || !slices.Contains(d.Pending, StepStart) {
			return out, false, nil
		}
		publish = stored
	case err != nil:
		return order.Order{}, false, fmt.Errorf("create order %s: %w", o.ID, err)
	}
	s.steps.Committed(StepStart)
	if err := s.steps.Publish(ctx, ref, StepStart, publish); err != nil {
		return out, created, err
	}
	return out, created, nil
}

// Envelope is the saga envelope of o as order-service starts it.
func Envelope(o order.Order) event.Envelope {
	env := event.Envelope{ID: o.ID, Order: &event.Order{UserID: o.UserID, TicketID: o.TicketID, Quantity: o.Quantity, Price: o.Price}}
	for _, e := range o.History {
		if e.Service == event.OrderService {
			env.Order.History = append(env.Order.History, event.Record{EventType: event.Type(e.EventType), Service: e.Service, At: e.At})
		}
	}
	return env
}

// Get returns an order, or ErrNotFound.
func (s *Store) Get(ctx context.Context, id string) (order.Order, error) {
	snap, err := s.ref(id).Get(ctx)
	if status.Code(err) == codes.NotFound {
		return order.Order{}, ErrNotFound
	}
	if err != nil {
		return order.Order{}, fmt.Errorf("read order %s: %w", id, err)
	}
	return decode(snap)
}

// WaitTerminal returns the order as soon as it is terminal, or as it is
// when wait runs out or drain closes (the instance is shutting down).
func (s *Store) WaitTerminal(ctx context.Context, id string, wait time.Duration, drain <-chan struct{}) (order.Order, error) {
	w := s.Watch(id)
	defer w.Close()
	return w.Wait(ctx, wait, drain, false)
}

// Watch is one long-poll's interest in an order. A long-poll hears its order
// settle in one of two ways: at once, in process, when this instance
// settled it; or through a listener on the order document, which sees a
// settle by any instance the moment it commits.
//
// The listener costs a stream, its reads and CPU, and a single instance
// never needs it, so for an order it has just created an instance opens it
// only after ListenAfter, unless it heard another instance settle one of its
// orders in the last minute: there is more than one instance, and most
// orders will settle elsewhere.
type Watch struct {
	s     *Store
	id    string
	local chan order.Order
}

// Watch starts watching order id; it must be called before anything can
// settle the order, so that a settle here is never missed.
func (s *Store) Watch(id string) *Watch {
	return &Watch{s: s, id: id, local: s.waiters.add(id)}
}

// Close stops the watch.
func (w *Watch) Close() { w.s.waiters.remove(w.id, w.local) }

// Wait returns the order as soon as it is terminal, or as it is when wait
// runs out or drain closes. created says this instance has just created
// the order, so it is known to be pending.
func (w *Watch) Wait(ctx context.Context, wait time.Duration, drain <-chan struct{}, created bool) (order.Order, error) {
	s := w.s
	if wait <= 0 {
		return s.Get(ctx, w.id)
	}
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()

	type update struct {
		o   order.Order
		err error
	}
	updates := make(chan update, 1)
	listen := func() (stop func()) {
		it := s.ref(w.id).Snapshots(wctx)
		go func() {
			for {
				var u update
				snap, err := it.Next()
				switch {
				case err != nil:
					u.err = err
				case !snap.Exists():
					u.err = ErrNotFound
				default:
					u.o, u.err = decode(snap)
				}
				select {
				case updates <- u:
				case <-wctx.Done():
					return
				}
				if u.err != nil || u.o.Status.Terminal() {
					return
				}
			}
		}()
		return it.Stop
	}
	stop := func() {}
	defer func() { stop() }()
	var later <-chan time.Time
	if d := s.listenDelay(created); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		later = t.C
	} else {
		stop = listen()
	}

	var last *order.Order
	for {
		select {
		case o := <-w.local:
			return o, nil
		case <-later:
			later = nil
			stop = listen()
		case <-drain:
			drain = nil
			cancel()
		case u := <-updates:
			switch {
			case u.err == nil && u.o.Status.Terminal():
				select {
				case o := <-w.local: // settled here after all
					return o, nil
				default:
				}
				if !s.waiters.settlingHere(w.id) {
					s.remoteSettle.Store(time.Now().UnixNano())
				}
				return u.o, nil
			case u.err == nil:
				last = &u.o
			case errors.Is(u.err, ErrNotFound):
				return order.Order{}, ErrNotFound
			default:
				return order.Order{}, fmt.Errorf("listen to order %s: %w", w.id, u.err)
			}
		case <-wctx.Done():
			if ctx.Err() != nil {
				return order.Order{}, ctx.Err()
			}
			if last != nil {
				return *last, nil
			}
			return s.Get(ctx, w.id)
		}
	}
}

// listenDelay is how long a long-poll waits before opening its listener.
func (s *Store) listenDelay(created bool) time.Duration {
	if !created || time.Since(time.Unix(0, s.remoteSettle.Load())) < time.Minute {
		return 0
	}
	return s.ListenAfter
}

// waiters are the long-polls of this instance, by order, so that settling
// an order here answers them without waiting for the listener; and the
// orders being settled here right now.
type waiters struct {
	mu       sync.Mutex
	m        map[string]map[chan order.Order]struct{}
	settling map[string]int
}

func (w *waiters) beginSettle(id string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.settling == nil {
		w.settling = map[string]int{}
	}
	w.settling[id]++
}

func (w *waiters) endSettle(id string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.settling[id]--; w.settling[id] <= 0 {
		delete(w.settling, id)
	}
}

func (w *waiters) settlingHere(id string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.settling[id] > 0
}

func (w *waiters) add(id string) chan order.Order {
	ch := make(chan order.Order, 1)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.m == nil {
		w.m = map[string]map[chan order.Order]struct{}{}
	}
	if w.m[id] == nil {
		w.m[id] = map[chan order.Order]struct{}{}
	}
	w.m[id][ch] = struct{}{}
	return ch
}

func (w *waiters) remove(id string, ch chan order.Order) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.m[id], ch)
	if len(w.m[id]) == 0 {
		delete(w.m, id)
	}
}

func (w *waiters) settled(o order.Order) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for ch := range w.m[o.ID] {
		select {
		case ch <- o:
		default:
		}
	}
}

// Apply moves the order on a saga event and merges the envelope's timeline
// into the order's history. Unknown orders are reported as ErrNotFound.
func (s *Store) Apply(ctx context.Context, in event.Envelope, t event.Type, reason string, now time.Time) (order.Order, bool, error) {
	ref := s.ref(in.ID)
	var (
		out     order.Order
		changed bool
	)
	// From before the commit until the waiters are told: a listener here
	// that sees this settle first must not take it for another instance's.
	s.waiters.beginSettle(in.ID)
	defer s.waiters.endSettle(in.ID)
	err := s.fs.RunTransaction(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
		snap, err := outbox.GetTx(tx, ref)
		if err != nil {
			return err
		}
		if !snap.Exists() {
			return ErrNotFound
		}
		o, err := decode(snap)
		if err != nil {
			return err
		}
		if err := order.Check(o, order.Request{UserID: in.Order.UserID, TicketID: in.Order.TicketID, Quantity: in.Order.Quantity, Price: in.Order.Price}); err != nil {
			return fault.Permanent(err)
		}
		out, changed = order.Apply(o, string(t), reason, now)
		if !changed {
			return nil
		}
		out.History = mergeHistory(o.History, in.History())
		return tx.Update(ref, []firestore.Update{
			{Path: "status", Value: string(out.Status)},
			{Path: "reason", Value: out.Reason},
			{Path: "updated_at", Value: out.UpdatedAt},
			{Path: "history", Value: toDoc(out).History},
			{Path: fieldNextReplay, Value: timeOrDelete(out.Recovery.NextReplay)},
		})
	})
	if err != nil {
		return order.Order{}, false, fmt.Errorf("apply %s to order %s: %w", t, in.ID, err)
	}
	if changed && out.Status.Terminal() {
		s.waiters.settled(out)
	}
	return out, changed, nil
}

func mergeHistory(have []order.Entry, recs []event.Record) []order.Entry {
	var as []event.Record
	for _, e := range have {
		as = append(as, event.Record{EventType: event.Type(e.EventType), Service: e.Service, At: e.At})
	}
	var out []order.Entry
	for _, r := range event.MergeHistory(as, stripIDs(recs)) {
		out = append(out, order.Entry{EventType: string(r.EventType), Service: r.Service, At: r.At})
	}
	return out
}

// stripIDs keys records by type and service, as stored history has no ids.
func stripIDs(recs []event.Record) []event.Record {
	out := make([]event.Record, len(recs))
	for i, r := range recs {
		r.EventID = ""
		out[i] = r
	}
	return out
}

func decode(snap *firestore.DocumentSnapshot) (order.Order, error) {
	_, o, err := decodeDoc(snap)
	return o, err
}

func decodeDoc(snap *firestore.DocumentSnapshot) (orderDoc, order.Order, error) {
	var d orderDoc
	if err := snap.DataTo(&d); err != nil {
		return orderDoc{}, order.Order{}, fault.Corrupt("order "+snap.Ref.ID, err)
	}
	return d, fromDoc(snap.Ref.ID, d), nil
}

func fromDoc(id string, d orderDoc) order.Order {
	o := order.Order{ID: id, UserID: d.UserID, TicketID: d.TicketID, Quantity: d.Quantity, Price: d.Price,
		Status: order.Status(d.Status), Reason: d.Reason, CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt,
		Recovery: order.Recovery{Replays: d.Replays, GaveUp: d.GaveUp}}
	if d.StoppedAt != nil {
		o.Recovery.StoppedAt = *d.StoppedAt
	}
	if d.NextReplay != nil {
		o.Recovery.NextReplay = *d.NextReplay
	}
	for _, e := range d.History {
		o.History = append(o.History, order.Entry(e))
	}
	return o
}

// timeOrDelete is t as a field value, or the deletion of the field when t
// is zero.
func timeOrDelete(t time.Time) any {
	if t.IsZero() {
		return firestore.Delete
	}
	return t
}

func toDoc(o order.Order) orderDoc {
	d := orderDoc{UserID: o.UserID, TicketID: o.TicketID, Quantity: o.Quantity, Price: o.Price,
		Status: string(o.Status), Reason: o.Reason, CreatedAt: o.CreatedAt, UpdatedAt: o.UpdatedAt}
	for _, e := range o.History {
		d.History = append(d.History, entryDoc(e))
	}
	return d
}
