package httpapi

import (
	"errors"
	"testing"

	"github.com/ticketsaga/saga/shared/saga"
)

// FuzzDecodeOrderRequest: a POST /orders body is refused with a 400 and a
// code, or accepted with ids the saga can store (no user_id at all is
// allowed: the buyer's uid is the user id) and amounts in range.
func FuzzDecodeOrderRequest(f *testing.F) {
	for _, seed := range []string{
		`{"user_id":"u","ticket_id":"t","quantity":1,"price":100}`,
		`{"user_id":"u","ticket_id":"t","quantity":9007199254740991,"price":9007199254740991}`,
		`{"user_id":"u","ticket_id":"t","quantity":9007199254740992,"price":1}`,
		`{"user_id":"__u__","ticket_id":"t","quantity":1,"price":1}`,
		`{"user_id":"u","ticket_id":"t","quantity":1,"price":1,"price":2}`,
		`{"user_id":"u","ticket_id":"t","Quantity":1,"price":1}`,
		`{"user_id":"u","ticket_id":"t","quantity":-1,"price":1}`,
		`{"user_id":"u","ticket_id":"t","quantity":1}`, `[]`, ``,
		// Found by the fuzzer: without user_id, an empty ticket_id passed.
		`{"ticket_id":"","quantity":1,"price":1}`, `{"user_id":"","ticket_id":"t","quantity":1,"price":1}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		req, err := decodeOrderRequest(raw)
		if err != nil {
			var e *saga.Error
			if !errors.As(err, &e) || e.Kind != saga.Invalid || e.Code == "" {
				t.Fatalf("decodeOrderRequest(%q) = %v, want an Invalid error with a code", raw, err)
			}
			return
		}
		if (req.UserID != "" && !saga.ValidID(req.UserID)) || !saga.ValidID(req.TicketID) ||
			req.Quantity < 1 || req.Quantity > saga.MaxAmount || req.Price < 1 || req.Price > saga.MaxAmount {
			t.Fatalf("decodeOrderRequest(%q) accepted %+v", raw, req)
		}
	})
}
