package longpoll

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/ticketsaga/saga/order-service/internal/order"
)

func TestWaitersHearLocalSettle(t *testing.T) {
	t.Parallel()
	var w waiters
	a, b := w.add("o1"), w.add("o1")
	other := w.add("o2")
	w.settled(order.Order{ID: "o1", Status: order.StatusCompleted})
	for _, ch := range []chan order.Order{a, b} {
		select {
		case o := <-ch:
			if o.Status != order.StatusCompleted {
				t.Fatalf("heard %+v", o)
			}
		default:
			t.Fatal("a waiter of o1 heard nothing")
		}
	}
	select {
	case o := <-other:
		t.Fatalf("the waiter of o2 heard %+v", o)
	default:
	}
	w.remove("o1", a)
	w.remove("o1", b)
	if len(w.m["o1"]) != 0 {
		t.Fatalf("waiters left: %v", w.m)
	}
}

func TestSettlingHere(t *testing.T) {
	t.Parallel()
	var w waiters
	if w.settlingHere("o1") {
		t.Fatal("settling before any settle")
	}
	w.beginSettle("o1")
	w.beginSettle("o1") // a duplicate delivery settling at the same time
	w.endSettle("o1")
	if !w.settlingHere("o1") {
		t.Fatal("not settling while one settle runs")
	}
	w.endSettle("o1")
	if w.settlingHere("o1") || len(w.settling) != 0 {
		t.Fatalf("still settling: %v", w.settling)
	}
}

func TestListenDelay(t *testing.T) {
	t.Parallel()
	s := &Poller{ListenAfter: time.Second}
	if d := s.listenDelay(false); d != 0 {
		t.Errorf("an order this instance did not just create: delay %s, want 0", d)
	}
	if d := s.listenDelay(true); d != time.Second {
		t.Errorf("a new order, no other instance heard of: delay %s, want 1s", d)
	}
	s.remoteSettle.Store(time.Now().UnixNano())
	if d := s.listenDelay(true); d != 0 {
		t.Errorf("a new order after another instance settled one: delay %s, want 0", d)
	}
	s.remoteSettle.Store(time.Now().Add(-2 * time.Minute).UnixNano())
	if d := s.listenDelay(true); d != time.Second {
		t.Errorf("no settle elsewhere for two minutes: delay %s, want 1s", d)
	}
}

// fakeListener is a listener the test drives: it sends what the test puts
// on its channel.
type fakeListener struct {
	opened chan string
	send   chan Update
}

func newFake() *fakeListener {
	return &fakeListener{opened: make(chan string, 10), send: make(chan Update)}
}

func (f *fakeListener) listen(ctx context.Context, id string) (<-chan Update, func()) {
	f.opened <- id
	out := make(chan Update)
	done := make(chan struct{})
	go func() {
		defer close(out)
		for {
			select {
			case u := <-f.send:
				select {
				case out <- u:
				case <-ctx.Done():
					return
				case <-done:
					return
				}
			case <-ctx.Done():
				return
			case <-done:
				return
			}
		}
	}()
	var once sync.Once
	return out, func() { once.Do(func() { close(done) }) }
}

func pending(id string) order.Order { return order.Order{ID: id, Status: order.StatusPending} }

func newPoller(f *fakeListener, after time.Duration) *Poller {
	return &Poller{Listen: f.listen, ListenAfter: after,
		Get: func(ctx context.Context, id string) (order.Order, error) { return pending(id), nil }}
}

// TestSettleHereAnswersWithoutListening: an order this instance created
// and settles is answered in process; no listener is opened.
func TestSettleHereAnswersWithoutListening(t *testing.T) {
	t.Parallel()
	f := newFake()
	p := newPoller(f, time.Hour)
	w := p.Watch("o1")
	defer w.Close()
	go func() {
		end := p.Settling("o1")
		p.Settled(order.Order{ID: "o1", Status: order.StatusCompleted})
		end()
	}()
	o, err := w.Wait(context.Background(), time.Minute, nil, true)
	if err != nil || o.Status != order.StatusCompleted {
		t.Fatalf("Wait = %+v, %v", o, err)
	}
	select {
	case id := <-f.opened:
		t.Fatalf("a listener was opened on %s", id)
	default:
	}
}

// TestListenerHearsAnotherInstance: a GET listens at once; a terminal
// state heard there is the answer, and makes later new orders listen at
// once too (other instances settle orders).
func TestListenerHearsAnotherInstance(t *testing.T) {
	t.Parallel()
	f := newFake()
	p := newPoller(f, time.Hour)
	w := p.Watch("o1")
	defer w.Close()
	go func() {
		<-f.opened
		f.send <- Update{Order: pending("o1")}
		f.send <- Update{Order: order.Order{ID: "o1", Status: order.StatusCancelled}}
	}()
	o, err := w.Wait(context.Background(), time.Minute, nil, false)
	if err != nil || o.Status != order.StatusCancelled {
		t.Fatalf("Wait = %+v, %v", o, err)
	}
	if d := p.listenDelay(true); d != 0 {
		t.Errorf("after a settle elsewhere, a new order waits %s before listening", d)
	}
}

// TestWaitRunsOutOrDrains: when wait runs out the order is answered as the
// listener last saw it; when the instance drains, at once.
func TestWaitRunsOutOrDrains(t *testing.T) {
	t.Parallel()
	f := newFake()
	p := newPoller(f, 0)
	w := p.Watch("o1")
	defer w.Close()
	go func() {
		<-f.opened
		f.send <- Update{Order: order.Order{ID: "o1", Status: order.StatusStopping}}
	}()
	start := time.Now()
	o, err := w.Wait(context.Background(), 300*time.Millisecond, nil, false)
	if err != nil || o.Status != order.StatusStopping || time.Since(start) < 300*time.Millisecond {
		t.Fatalf("Wait = %+v, %v after %s", o, err, time.Since(start))
	}

	drain := make(chan struct{})
	close(drain)
	w2 := p.Watch("o2")
	defer w2.Close()
	start = time.Now()
	o, err = w2.Wait(context.Background(), time.Minute, drain, false)
	if err != nil || o.Status != order.StatusPending || time.Since(start) > 10*time.Second {
		t.Fatalf("Wait while draining = %+v, %v after %s", o, err, time.Since(start))
	}
}

// TestListenerError: a listener that fails ends the long-poll with its
// error.
func TestListenerError(t *testing.T) {
	t.Parallel()
	f := newFake()
	p := newPoller(f, 0)
	w := p.Watch("o1")
	defer w.Close()
	boom := errors.New("stream broke")
	go func() {
		<-f.opened
		f.send <- Update{Err: boom}
	}()
	if _, err := w.Wait(context.Background(), time.Minute, nil, false); !errors.Is(err, boom) {
		t.Fatalf("Wait = %v, want %v", err, boom)
	}
}
