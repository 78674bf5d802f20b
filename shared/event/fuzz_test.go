package event

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/ticketsaga/saga/shared/saga"
)

// FuzzDecode: an envelope is either refused as malformed or carries ids the
// saga can store and amounts within the contract's range, and survives a
// round trip.
func FuzzDecode(f *testing.F) {
	for _, seed := range []string{
		`{"id":"o1","order":{"user_id":"u","ticket_id":"t","quantity":1,"price":100}}`,
		`{"id":"o1","order":{"user_id":"u","ticket_id":"t","quantity":2,"price":200,"history":[{"event_type":"started-order","service":"order-service","at":"2026-01-01T00:00:00Z"}]},"point":{"reason":"x"}}`,
		`{"id":"__o__","order":{"user_id":"u","ticket_id":"t","quantity":1,"price":1}}`,
		`{"id":"o","order":{"user_id":"u","ticket_id":"t","quantity":9007199254740992,"price":1}}`,
		`{"id":"o","order":null}`, `{"id":".."}`, `[]`, `null`, ``, `{"id":"o","ID":"p"}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		e, err := Decode(raw)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Decode(%q) = %v, not ErrMalformed", raw, err)
			}
			return
		}
		o := e.Order
		if !saga.ValidID(e.ID) || !saga.ValidID(o.UserID) || !saga.ValidID(o.TicketID) ||
			o.Quantity < 1 || o.Quantity > saga.MaxAmount || o.Price < 1 || o.Price > saga.MaxAmount {
			t.Fatalf("Decode(%q) accepted %+v %+v", raw, e, o)
		}
		again, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Decode(again); err != nil {
			t.Fatalf("re-encoded envelope %q refused: %v", again, err)
		}
	})
}
