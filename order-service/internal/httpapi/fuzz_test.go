package httpapi

import (
	"testing"

	"github.com/ticketsaga/saga/shared/event"
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
		req, herr := decodeOrderRequest(raw)
		if herr != nil {
			if herr.Status != 400 || herr.Code == "" {
				t.Fatalf("decodeOrderRequest(%q) = %+v", raw, herr)
			}
			return
		}
		if (req.UserID != "" && !event.ValidID(req.UserID)) || !event.ValidID(req.TicketID) ||
			req.Quantity < 1 || req.Quantity > event.MaxAmount || req.Price < 1 || req.Price > event.MaxAmount {
			t.Fatalf("decodeOrderRequest(%q) accepted %+v", raw, req)
		}
	})
}
