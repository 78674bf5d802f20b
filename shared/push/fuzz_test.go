package push

import (
	"bytes"
	"net/http/httptest"
	"testing"

	"github.com/ticketsaga/saga/shared/saga"
)

// FuzzDecode: any push body is decoded or refused as poison, never a
// panic or another kind of error.
func FuzzDecode(f *testing.F) {
	for _, seed := range []string{
		`{"message":{"data":"eyJpZCI6Im8xIn0=","attributes":{"event_type":"started-order","order_id":"o1"},"messageId":"1"},"subscription":"projects/p/subscriptions/s"}`,
		`{"message":{"data":"not base64!"}}`, `{"message":{"data":null}}`, `{"message":[]}`, `{}`, `[]`, ``, `{"deliveryAttempt":"x"}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, err := Decode(httptest.NewRequest("POST", "/push/events", bytes.NewReader(raw)))
		if err != nil && saga.KindOf(err) != saga.Permanent {
			t.Fatalf("Decode(%q) = %v, not poison", raw, err)
		}
		if err == nil {
			_ = m.EventType()
			_ = m.SubscriptionName()
			if _, err := Envelope(m); err != nil && saga.KindOf(err) != saga.Permanent {
				t.Fatalf("Envelope of %q = %v, not poison", raw, err)
			}
		}
	})
}
