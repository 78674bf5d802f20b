package httpjson

import (
	"encoding/json"
	"net/http"
	"testing"
)

// FuzzDecodeBytes: whatever the body, decoding answers a 400 or 413 with a
// code, or accepts a body that means one thing: re-encoding what was
// decoded and decoding it again gives the same.
func FuzzDecodeBytes(f *testing.F) {
	for _, seed := range []string{
		`{"user_id":"u","ticket_id":"t","quantity":1,"price":100}`,
		`{"quantity":1,"quantity":2}`, `{"Quantity":1}`, `{"quantity":1.0}`, `{"quantity":9007199254740993}`,
		`{"user_id":{"a":1}}`, `[1]`, `null`, ``, `{} {}`, `{"user_id":"\u0000"}`, `{"price":-0}`, `{"price":1e2}`,
		"{\"user_id\":\"\xff\"}", `{"user_id":"u"`,
	} {
		f.Add([]byte(seed))
	}
	type body struct {
		UserID   *string `json:"user_id"`
		TicketID *string `json:"ticket_id"`
		Quantity *int64  `json:"quantity"`
		Price    *int64  `json:"price"`
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var b body
		herr := DecodeBytes(raw, &b)
		if herr != nil {
			if st := Status(herr); (st != http.StatusBadRequest && st != http.StatusRequestEntityTooLarge) || herr.Code == "" {
				t.Fatalf("DecodeBytes(%q) = %+v", raw, herr)
			}
			return
		}
		again, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		var b2 body
		if herr := DecodeBytes(again, &b2); herr != nil {
			t.Fatalf("re-encoded %q of accepted %q refused: %v", again, raw, herr)
		}
		if !same(b.UserID, b2.UserID) || !same(b.TicketID, b2.TicketID) || !same(b.Quantity, b2.Quantity) || !same(b.Price, b2.Price) {
			t.Fatalf("%q decoded as %+v, its re-encoding as %+v", raw, b, b2)
		}
	})
}

func same[T comparable](a, b *T) bool {
	return (a == nil) == (b == nil) && (a == nil || *a == *b)
}
