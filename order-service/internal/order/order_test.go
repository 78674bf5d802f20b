package order

import (
	"errors"
	"testing"
	"time"

	"github.com/ticketsaga/saga/shared/saga"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestApply(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		from       Status
		event      saga.EventType
		wantStatus Status
		wantReason string
		changed    bool
	}{
		{StatusPending, saga.GrantedTicket, StatusCompleted, "", true},
		{StatusPending, saga.FailedPoint, StatusFailed, "insufficient_points", true},
		{StatusPending, saga.RefundedPoint, StatusFailed, "insufficient_points", true},
		{StatusStopping, saga.GrantedTicket, StatusStopping, "", false},
		{StatusStopping, saga.RefundedPoint, StatusCancelled, saga.ReasonTimeout, true},
		{StatusStopping, saga.FailedPoint, StatusCancelled, saga.ReasonTimeout, true},
		{StatusCompleted, saga.RefundedPoint, StatusCompleted, "", false},
		{StatusFailed, saga.GrantedTicket, StatusFailed, "", false},
		{StatusCancelled, saga.GrantedTicket, StatusCancelled, "", false},
		{StatusPending, "started-order", StatusPending, "", false},
	} {
		got, changed := Apply(Order{Status: tc.from}, tc.event, "insufficient_points", t0)
		if got.Status != tc.wantStatus || got.Reason != tc.wantReason || changed != tc.changed {
			t.Errorf("Apply(%s, %s) = %s %q %v, want %s %q %v", tc.from, tc.event, got.Status, got.Reason, changed, tc.wantStatus, tc.wantReason, tc.changed)
		}
	}
}

var policy = HealPolicy{Pending: 5 * time.Second, First: 10 * time.Second, Max: time.Minute, GiveUp: time.Hour}

func TestStop(t *testing.T) {
	t.Parallel()
	o := Order{Status: StatusPending, CreatedAt: t0}
	if _, ok := Stop(o, t0.Add(time.Second), 2*time.Second, policy); ok {
		t.Error("stopped a young order")
	}
	got, ok := Stop(o, t0.Add(3*time.Second), 2*time.Second, policy)
	if !ok || got.Status != StatusStopping {
		t.Errorf("Stop = %v %v", got.Status, ok)
	}
	if want := (Recovery{StoppedAt: t0.Add(3 * time.Second), NextReplay: t0.Add(13 * time.Second)}); got.Recovery != want {
		t.Errorf("recovery = %+v, want %+v", got.Recovery, want)
	}
	if _, ok := Stop(Order{Status: StatusCompleted, CreatedAt: t0}, t0.Add(time.Hour), time.Second, policy); ok {
		t.Error("stopped a completed order")
	}
}

// TestHealBacksOffAndGivesUp follows one stopping order that never ends:
// replays come after 10 s, then 20, 40, 60, 60 ... s, and end after an hour.
func TestHealBacksOffAndGivesUp(t *testing.T) {
	t.Parallel()
	o, _ := Stop(Order{Status: StatusPending, CreatedAt: t0}, t0, 0, policy)
	if _, d := Heal(o, t0.Add(9*time.Second), policy); d != HealNone {
		t.Fatalf("replayed before First: %v", d)
	}
	var gaps []time.Duration
	var now time.Time
	last := t0
	for {
		now = o.Recovery.NextReplay
		var d HealDecision
		o, d = Heal(o, now, policy)
		if d == HealGiveUp {
			break
		}
		if d != HealReplay {
			t.Fatalf("at %s: decision %v", now.Sub(t0), d)
		}
		gaps = append(gaps, now.Sub(last))
		last = now
		if len(gaps) > 100 {
			t.Fatal("never gave up")
		}
	}
	want := []time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second, time.Minute}
	for i, g := range gaps {
		w := time.Minute
		if i < len(want) {
			w = want[i]
		}
		if g != w {
			t.Fatalf("gap %d = %s, want %s (gaps %v)", i, g, w, gaps)
		}
	}
	if now.Sub(t0) < policy.GiveUp || now.Sub(t0) > policy.GiveUp+policy.Max {
		t.Errorf("gave up at %s, want within Max after %s", now.Sub(t0), policy.GiveUp)
	}
	if !o.Recovery.GaveUp || !o.Recovery.NextReplay.IsZero() {
		t.Errorf("after giving up: %+v", o.Recovery)
	}
	if _, d := Heal(o, now.Add(time.Hour), policy); d != HealNone {
		t.Errorf("replayed after giving up: %v", d)
	}
}

// TestHealReplaysPendingOrdersUntilTheyEnd: a pending order is replayed
// (its started-order) Pending after its creation, then after twice as
// long, until it ends or is stopped; its stop starts the stop's own
// schedule; an order that ended is never replayed.
func TestHealReplaysPendingOrdersUntilTheyEnd(t *testing.T) {
	t.Parallel()
	o := New("o1", Request{UserID: "u", TicketID: "t", Quantity: 1, Price: 10}, t0, policy)
	if o.Status != StatusPending || o.Recovery.NextReplay != t0.Add(policy.Pending) {
		t.Fatalf("New = %+v", o)
	}
	if _, d := Heal(o, t0.Add(policy.Pending-time.Millisecond), policy); d != HealNone {
		t.Fatalf("replayed before Pending: %v", d)
	}
	o, d := Heal(o, t0.Add(policy.Pending), policy)
	if d != HealReplay || ReplayStep(o) != StepStart || o.Recovery.Replays != 1 || o.Recovery.NextReplay != t0.Add(3*policy.Pending) {
		t.Fatalf("first replay: %v %s %+v", d, ReplayStep(o), o.Recovery)
	}
	stopped, ok := Stop(o, t0.Add(time.Minute), 30*time.Second, policy)
	if !ok || ReplayStep(stopped) != StepStop || stopped.Recovery.Replays != 0 || stopped.Recovery.NextReplay != t0.Add(time.Minute+policy.First) {
		t.Fatalf("stopped: %v %s %+v", ok, ReplayStep(stopped), stopped.Recovery)
	}
	for _, ended := range []struct {
		from Order
		on   saga.EventType
	}{{o, saga.GrantedTicket}, {o, saga.FailedPoint}, {stopped, saga.RefundedPoint}} {
		done, changed := Apply(ended.from, ended.on, "r", t0.Add(2*time.Minute))
		if !changed || !done.Status.Terminal() {
			t.Fatalf("Apply %s = %v %v", ended.on, done.Status, changed)
		}
		if _, d := Heal(done, t0.Add(time.Hour), policy); d != HealNone {
			t.Errorf("replayed a %s order: %v", done.Status, d)
		}
	}
	if _, d := Heal(Order{Status: StatusPending, CreatedAt: t0}, t0.Add(time.Hour), policy); d != HealNone {
		t.Errorf("replayed a pending order with no replay scheduled: %v", d)
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	const maxAmount = 1<<53 - 1
	valid := func(s string) bool { return s != "" && s != "bad/id" }
	for _, ok := range []Request{
		{UserID: "u", TicketID: "t", Quantity: 1, Price: 10},
		{UserID: "u", TicketID: "t", Quantity: maxAmount, Price: maxAmount},
	} {
		if err := ok.Validate(valid, "rule", maxAmount); err != nil {
			t.Fatalf("valid request %+v: %v", ok, err)
		}
	}
	for _, r := range []Request{
		{UserID: "bad/id", TicketID: "t", Quantity: 1, Price: 1},
		{UserID: "", TicketID: "", Quantity: 1, Price: 1},
		{UserID: "u", TicketID: "bad/id", Quantity: 1, Price: 1},
		{UserID: "u", TicketID: "t", Quantity: 0, Price: 1},
		{UserID: "u", TicketID: "t", Quantity: 1, Price: -1},
		{UserID: "u", TicketID: "t", Quantity: maxAmount + 1, Price: 1},
		{UserID: "u", TicketID: "t", Quantity: 1, Price: maxAmount + 1},
		{UserID: "u", TicketID: "t", Quantity: -1 << 63, Price: 1},
	} {
		var ve *ValidationError
		if err := r.Validate(valid, "rule", maxAmount); !errors.As(err, &ve) {
			t.Errorf("Validate(%+v) = %v, want a ValidationError", r, err)
		}
	}
}

func TestIdempotencyIdentity(t *testing.T) {
	t.Parallel()
	if IDForKey("u1", "k") == IDForKey("u2", "k") {
		t.Error("keys are not scoped per user")
	}
	if first, again := IDForKey("u1", "k"), IDForKey("u1", "k"); first != again {
		t.Error("IDForKey is not stable")
	}
	a := Request{UserID: "u", TicketID: "t", Quantity: 1, Price: 10}
	b := a
	b.Price = 11
	if first, again := a.Fingerprint(), a.Fingerprint(); first == b.Fingerprint() || first != again {
		t.Error("fingerprint does not tell bodies apart")
	}
}
