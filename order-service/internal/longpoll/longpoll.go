// Package longpoll answers a long-poll the moment its order is terminal,
// without polling and without a shared pull subscription. A long-poll hears
// its order settle in one of two ways: at once, in process, when this
// instance settled it; or through a listener on the order's document,
// which sees a settle by any instance the moment it commits. It is pure Go:
// the listener and the read are injected.
//
// The listener costs a stream, its reads and CPU, and a single instance
// never needs it, so for an order it has just created an instance opens it
// only after ListenAfter, unless it heard another instance settle one of
// its orders in the last minute: there is more than one instance, and most
// orders will settle elsewhere.
package longpoll

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ticketsaga/saga/order-service/internal/order"
)

// Update is one state of an order a listener heard, or why it stopped.
type Update struct {
	Order order.Order
	Err   error
}

// Listener listens to order id until ctx is done or stop is called: it
// sends every state of the order it sees, and an error (ending it) when it
// cannot go on or the order does not exist.
type Listener func(ctx context.Context, id string) (updates <-chan Update, stop func())

// Poller is one instance's long-polls.
type Poller struct {
	Listen Listener
	Get    func(ctx context.Context, id string) (order.Order, error)
	// ListenAfter is how long a long-poll on an order this instance has
	// just created waits before it also listens; 0 listens at once.
	ListenAfter time.Duration
	// Span, when set, wraps each wait (tracing): it returns the wait's
	// context and the wait's end.
	Span func(ctx context.Context, id string) (context.Context, func())

	waiters waiters
	// remoteSettle is when (Unix ns) a long-poll here last heard its order
	// settled through the listener: by another instance.
	remoteSettle atomic.Int64
}

// Watch is one long-poll's interest in an order.
type Watch struct {
	p     *Poller
	id    string
	local chan order.Order
}

// Watch starts watching order id; it must be called before anything can
// settle the order, so that a settle here is never missed.
func (p *Poller) Watch(id string) *Watch {
	return &Watch{p: p, id: id, local: p.waiters.add(id)}
}

// Close stops the watch.
func (w *Watch) Close() { w.p.waiters.remove(w.id, w.local) }

// Settling marks that this instance is settling order id, from before the
// commit until Settled or the returned end: a listener here that sees the
// settle first must not take it for another instance's.
func (p *Poller) Settling(id string) (end func()) {
	p.waiters.beginSettle(id)
	return func() { p.waiters.endSettle(id) }
}

// Settled tells this instance's long-polls of o that it is terminal.
func (p *Poller) Settled(o order.Order) { p.waiters.settled(o) }

// Wait returns the order as soon as it is terminal, or as it is when wait
// runs out or drain closes (the instance is shutting down). created says
// this instance has just created the order, so it is known to be pending.
func (w *Watch) Wait(ctx context.Context, wait time.Duration, drain <-chan struct{}, created bool) (order.Order, error) {
	p := w.p
	if wait <= 0 {
		return p.Get(ctx, w.id)
	}
	if p.Span != nil {
		var end func()
		ctx, end = p.Span(ctx, w.id)
		defer end()
	}
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()

	var updates <-chan Update
	stop := func() {}
	defer func() { stop() }()
	var later <-chan time.Time
	if d := p.listenDelay(created); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		later = t.C
	} else {
		updates, stop = p.Listen(wctx, w.id)
	}

	var last *order.Order
	for {
		select {
		case o := <-w.local:
			return o, nil
		case <-later:
			later = nil
			updates, stop = p.Listen(wctx, w.id)
		case <-drain:
			drain = nil
			cancel()
		case u, ok := <-updates:
			switch {
			case !ok:
				updates = nil // the listener ended with the wait
			case u.Err == nil && u.Order.Status.Terminal():
				select {
				case o := <-w.local: // settled here after all
					return o, nil
				default:
				}
				if !p.waiters.settlingHere(w.id) {
					p.remoteSettle.Store(time.Now().UnixNano())
				}
				return u.Order, nil
			case u.Err == nil:
				last = &u.Order
			case wctx.Err() != nil:
				updates = nil // the listener failed because the wait is over
			default:
				return order.Order{}, fmt.Errorf("listen to order %s: %w", w.id, u.Err)
			}
		case <-wctx.Done():
			if ctx.Err() != nil {
				return order.Order{}, ctx.Err()
			}
			if last != nil {
				return *last, nil
			}
			return p.Get(ctx, w.id)
		}
	}
}

// listenDelay is how long a long-poll waits before opening its listener.
func (p *Poller) listenDelay(created bool) time.Duration {
	if !created || time.Since(time.Unix(0, p.remoteSettle.Load())) < time.Minute {
		return 0
	}
	return p.ListenAfter
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
