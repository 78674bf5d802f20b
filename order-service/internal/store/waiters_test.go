package store

import (
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
	s := &Store{ListenAfter: time.Second}
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
