package point

import "testing"

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
		{"short", Saga{}, &Account{Balance: 39}, ReasonInsufficientPoints, -1, StateFailed},
		{"no account", Saga{}, nil, ReasonUnknownAccount, -1, StateFailed},
		{"after refund", Saga{State: StateRefunded}, &Account{Balance: 100}, ReasonCompensated, -1, StateRefunded},
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
	got := Refund(Saga{State: StateConsumed, UserID: "u", Amount: 40}, &Account{Balance: 10})
	if got.Account == nil || got.Account.Balance != 50 || got.Saga.State != StateRefunded {
		t.Fatalf("refund of a consume = %+v", got)
	}
	for _, s := range []Saga{{}, {State: StateFailed}, {State: StateRefunded, Amount: 40}} {
		got := Refund(s, &Account{Balance: 10})
		if got.Account != nil || got.Saga.State != StateRefunded {
			t.Fatalf("Refund(%+v) = %+v, want a null compensation", s, got)
		}
	}
}
