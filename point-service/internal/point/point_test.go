package point

import (
	"errors"
	"math"
	"testing"

	"github.com/ticketsaga/saga/shared/saga"
)

func TestConsume(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		saga        Saga
		acct        *Account
		wantReason  string
		wantBalance int64 // -1: unchanged
		wantState   State
	}{
		{"enough", Saga{}, &Account{Balance: 100}, "", 60, StateConsumed},
		{"exact", Saga{}, &Account{Balance: 40}, "", 0, StateConsumed},
		{"short", Saga{}, &Account{Balance: 39}, saga.ReasonInsufficientPoints, -1, StateFailed},
		{"no account", Saga{}, nil, saga.ReasonUnknownAccount, -1, StateFailed},
		{"after refund", Saga{State: StateRefunded}, &Account{Balance: 100}, saga.ReasonTimeout, -1, StateRefunded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := Consume(tc.saga, tc.acct, "u1", 40)
			if got.Reason != tc.wantReason || got.Saga.State != tc.wantState {
				t.Fatalf("Consume = %+v, want reason %q state %q", got, tc.wantReason, tc.wantState)
			}
			if tc.wantBalance < 0 && got.Account != nil {
				t.Fatalf("balance changed to %d", got.Account.Balance)
			}
			if tc.wantBalance >= 0 && (got.Account == nil || got.Account.Balance != tc.wantBalance) {
				t.Fatalf("account = %+v, want balance %d", got.Account, tc.wantBalance)
			}
		})
	}
}

func TestRefund(t *testing.T) {
	t.Parallel()
	got, err := Refund(Saga{State: StateConsumed, UserID: "u", Amount: 40}, &Account{Balance: 10}, "u")
	if err != nil || got.Account == nil || got.Account.Balance != 50 || got.Saga.State != StateRefunded {
		t.Fatalf("refund of a consume = %+v, %v", got, err)
	}
	for _, s := range []Saga{{}, {State: StateFailed}, {State: StateRefunded, Amount: 40}} {
		got, err := Refund(s, &Account{Balance: 10}, "u")
		if err != nil || got.Account != nil || got.Saga.State != StateRefunded {
			t.Fatalf("Refund(%+v) = %+v, %v, want a null compensation", s, got, err)
		}
	}
}

// TestAmountsAtTheBoundaries: the largest amounts the API accepts consume
// and refund exactly; only a corrupt balance could overflow, and then the
// refund refuses instead of wrapping.
func TestAmountsAtTheBoundaries(t *testing.T) {
	t.Parallel()
	const maxAmount = 1<<53 - 1
	c := Consume(Saga{}, &Account{Balance: maxAmount}, "u", maxAmount)
	if c.Reason != "" || c.Account.Balance != 0 || c.Saga.Amount != maxAmount {
		t.Fatalf("consume of everything = %+v", c)
	}
	if c := Consume(Saga{}, &Account{Balance: maxAmount - 1}, "u", maxAmount); c.Reason != saga.ReasonInsufficientPoints {
		t.Fatalf("consume of one more than the balance = %+v", c)
	}
	// An admin set the balance to the maximum while the order was in
	// flight: the refund still adds up exactly (past 2^53, within int64).
	r, err := Refund(c.Saga, &Account{Balance: maxAmount}, "u")
	if err != nil || r.Account.Balance != 2*maxAmount {
		t.Fatalf("refund onto a full balance = %+v, %v", r, err)
	}
	if _, err := Refund(Saga{State: StateConsumed, Amount: 2}, &Account{Balance: math.MaxInt64 - 1}, "u"); !errors.Is(err, ErrOverflow) {
		t.Fatalf("refund past int64 = %v, want ErrOverflow", err)
	}
}

func TestRefundIsTheChargedUsers(t *testing.T) {
	t.Parallel()
	charged := Saga{State: StateConsumed, UserID: "alice", Amount: 40}
	if _, err := Refund(charged, &Account{Balance: 0}, "mallory"); !errors.Is(err, ErrNotTheirs) {
		t.Fatalf("refund to another user: %v", err)
	}
	got, err := Refund(Saga{}, nil, "bob")
	if err != nil || got.Saga.UserID != "bob" || got.Saga.State != StateRefunded {
		t.Fatalf("null refund: %+v, %v", got, err)
	}
}
