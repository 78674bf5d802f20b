package order

import (
	"errors"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestApply(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		from       Status
		event      string
		wantStatus Status
		wantReason string
		changed    bool
	}{
		{StatusPending, EventGrantedTicket, StatusCompleted, "", true},
		{StatusPending, EventFailedPoint, StatusFailed, "insufficient_points", true},
		{StatusPending, EventRefundedPoint, StatusFailed, "insufficient_points", true},
		{StatusStopping, EventGrantedTicket, StatusStopping, "", false},
		{StatusStopping, EventRefundedPoint, StatusCancelled, ReasonTimeout, true},
		{StatusStopping, EventFailedPoint, StatusCancelled, ReasonTimeout, true},
		{StatusCompleted, EventRefundedPoint, StatusCompleted, "", false},
		{StatusFailed, EventGrantedTicket, StatusFailed, "", false},
		{StatusCancelled, EventGrantedTicket, StatusCancelled, "", false},
		{StatusPending, "started-order", StatusPending, "", false},
	} {
		got, changed := Apply(Order{Status: tc.from}, tc.event, "insufficient_points", t0)
		if got.Status != tc.wantStatus || got.Reason != tc.wantReason || changed != tc.changed {
			t.Errorf("Apply(%s, %s) = %s %q %v, want %s %q %v", tc.from, tc.event, got.Status, got.Reason, changed, tc.wantStatus, tc.wantReason, tc.changed)
		}
	}
}

func TestStop(t *testing.T) {
	t.Parallel()
	o := Order{Status: StatusPending, CreatedAt: t0}
	if _, ok := Stop(o, t0.Add(time.Second), 2*time.Second); ok {
		t.Error("stopped a young order")
	}
	if got, ok := Stop(o, t0.Add(3*time.Second), 2*time.Second); !ok || got.Status != StatusStopping {
		t.Errorf("Stop = %v %v", got.Status, ok)
	}
	if _, ok := Stop(Order{Status: StatusCompleted, CreatedAt: t0}, t0.Add(time.Hour), time.Second); ok {
		t.Error("stopped a completed order")
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	valid := func(s string) bool { return s != "" && s != "bad/id" }
	ok := Request{UserID: "u", TicketID: "t", Quantity: 1, Price: 10}
	if err := ok.Validate(valid); err != nil {
		t.Fatalf("valid request: %v", err)
	}
	for _, r := range []Request{
		{UserID: "", TicketID: "t", Quantity: 1, Price: 1},
		{UserID: "u", TicketID: "bad/id", Quantity: 1, Price: 1},
		{UserID: "u", TicketID: "t", Quantity: 0, Price: 1},
		{UserID: "u", TicketID: "t", Quantity: 1, Price: -1},
	} {
		var ve *ValidationError
		if err := r.Validate(valid); !errors.As(err, &ve) {
			t.Errorf("Validate(%+v) = %v, want a ValidationError", r, err)
		}
	}
}

func TestIdempotencyIdentity(t *testing.T) {
	t.Parallel()
	if IDForKey("u1", "k") == IDForKey("u2", "k") {
		t.Error("keys are not scoped per user")
	}
	if IDForKey("u1", "k") != IDForKey("u1", "k") {
		t.Error("IDForKey is not stable")
	}
	a := Request{UserID: "u", TicketID: "t", Quantity: 1, Price: 10}
	b := a
	b.Price = 11
	if a.Fingerprint() == b.Fingerprint() || a.Fingerprint() != a.Fingerprint() {
		t.Error("fingerprint does not tell bodies apart")
	}
}
