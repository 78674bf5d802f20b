package event

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ticketsaga/saga/shared/saga"
)

func TestValidID(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		id   string
		want bool
	}{
		{"u1", true}, {"A-b_c.9", true}, {strings.Repeat("x", 128), true},
		{"", false}, {strings.Repeat("x", 129), false}, {"a/b", false}, {"a b", false},
		{".", false}, {"..", false}, {"ü", false},
		{"__x__", false}, {"____", false}, {"__", true}, {"___", true}, {"__x", true}, {"x__", true}, {"_x_", true}, {"...", true},
	} {
		if got := saga.ValidID(tc.id); got != tc.want {
			t.Errorf("saga.ValidID(%q) = %v, want %v", tc.id, got, tc.want)
		}
	}
}

func TestWithDoesNotAlias(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	base := Envelope{ID: "o1", Order: &Order{UserID: "u", TicketID: "t", Quantity: 1, Price: 10,
		History: []Record{{EventType: saga.StartedOrder, Service: saga.OrderService, At: t0, EventID: "e1"}}}}
	a := base.With(Record{EventType: saga.ConsumedPoint, Service: saga.PointService, At: t0.Add(time.Second), EventID: "e2"})
	b := a.With(Record{EventType: saga.FailedTicket, Service: saga.TicketService, At: t0.Add(2 * time.Second), EventID: "e3", Reason: "sold_out"})
	if base.Point != nil || a.Ticket != nil {
		t.Fatalf("With changed its receiver: base.Point=%v a.Ticket=%v", base.Point, a.Ticket)
	}
	if b.Ticket.Reason != "sold_out" {
		t.Errorf("ticket reason = %q, want sold_out", b.Ticket.Reason)
	}
	var types []saga.EventType
	for _, r := range b.History() {
		types = append(types, r.EventType)
	}
	if want := []saga.EventType{saga.StartedOrder, saga.ConsumedPoint, saga.FailedTicket}; !slices.Equal(types, want) {
		t.Errorf("history = %v, want %v", types, want)
	}
}

func TestMergeHistoryDedupesAndSorts(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r1 := Record{EventType: saga.StartedOrder, Service: saga.OrderService, At: t0, EventID: "a"}
	r2 := Record{EventType: saga.ConsumedPoint, Service: saga.PointService, At: t0.Add(time.Millisecond), EventID: "b"}
	got := MergeHistory([]Record{r2, r1}, []Record{r1, r2})
	if len(got) != 2 || got[0].EventID != "a" || got[1].EventID != "b" {
		t.Fatalf("MergeHistory = %+v", got)
	}
}

func TestDecodeRejectsMalformed(t *testing.T) {
	t.Parallel()
	for _, data := range []string{``, `{`, `[]`, `{"id":""}`, `{"id":"o"}`,
		`{"id":"o","order":{"user_id":"u","ticket_id":"t","quantity":0,"price":1}}`,
		`{"id":"o","order":{"user_id":"a/b","ticket_id":"t","quantity":1,"price":1}}`,
		`{"id":"__o__","order":{"user_id":"u","ticket_id":"t","quantity":1,"price":1}}`,
		`{"id":"o/p","order":{"user_id":"u","ticket_id":"t","quantity":1,"price":1}}`,
		`{"id":"o","order":{"user_id":"u","ticket_id":"__t__","quantity":1,"price":1}}`,
		`{"id":"o","order":{"user_id":"u","ticket_id":"t","quantity":9007199254740992,"price":1}}`,
		`{"id":"o","order":{"user_id":"u","ticket_id":"t","quantity":1,"price":9007199254740992}}`,
		`{"id":"o","order":{"user_id":"u","ticket_id":"t","quantity":1,"price":-1}}`,
		`{"id":"o","order":{"user_id":"u","ticket_id":"t","quantity":1.5,"price":1}}`} {
		if _, err := Decode([]byte(data)); !errors.Is(err, ErrMalformed) {
			t.Errorf("Decode(%q) err = %v, want ErrMalformed", data, err)
		}
	}
}

func TestNewMessageRoundTrip(t *testing.T) {
	t.Parallel()
	in := Envelope{ID: "o1", Order: &Order{UserID: "u", TicketID: "t", Quantity: 2, Price: 20}}
	m, err := NewMessage(in, saga.ConsumedPoint, saga.PointService, "ev1", "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if m.Attributes[saga.AttrEventType] != "consumed-point" || m.Attributes[saga.AttrOrderID] != "o1" ||
		m.Attributes[saga.AttrEventID] != "ev1" || m.Attributes[saga.AttrSource] != saga.PointService {
		t.Errorf("attributes = %v", m.Attributes)
	}
	var raw map[string]any
	if err := json.Unmarshal(m.Data, &raw); err != nil {
		t.Fatal(err)
	}
	out, err := Decode(m.Data)
	if err != nil {
		t.Fatal(err)
	}
	if out.Point == nil || len(out.Point.History) != 1 || out.Point.History[0].EventType != saga.ConsumedPoint {
		t.Errorf("decoded point section = %+v", out.Point)
	}
}

func TestWithRecordsCarriesOwnTimeline(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	consumed := Record{EventType: saga.ConsumedPoint, Service: saga.PointService, At: t0, EventID: "c"}
	in := Envelope{ID: "o", Order: &Order{UserID: "u", TicketID: "t", Quantity: 1, Price: 1},
		Point: &Section{History: []Record{{EventType: saga.FailedPoint, Service: saga.PointService, At: t0.Add(time.Second), EventID: "f"}}}}
	out := in.WithRecords(saga.PointService, []Record{consumed, consumed})
	if got := out.Records(saga.PointService); len(got) != 2 || got[0].EventID != "c" {
		t.Fatalf("point records = %+v", got)
	}
	if len(in.Point.History) != 1 {
		t.Fatal("WithRecords changed its receiver")
	}
}

func TestAsReplayMarksACopy(t *testing.T) {
	t.Parallel()
	m := Message{Type: saga.StoppedOrder, EventID: "e1", Data: []byte(`{}`), Attributes: map[string]string{saga.AttrEventID: "e1"}}
	r := m.AsReplay()
	if r.Attributes[saga.AttrReplay] == "" || r.Attributes[saga.AttrEventID] != "e1" || r.EventID != "e1" {
		t.Errorf("replay = %+v", r)
	}
	if _, ok := m.Attributes[saga.AttrReplay]; ok {
		t.Error("AsReplay changed the stored message's attributes")
	}
}

// TestWireFormIsComplete: whatever the envelope holds, its JSON has every
// section and field, histories as [] (the topic's schema refuses anything
// missing or null), in docs/contract.md, Events's shape.
func TestWireFormIsComplete(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		in   Envelope
		want string
	}{
		{"sections missing", Envelope{ID: "o", Order: &Order{UserID: "u", TicketID: "t", Quantity: 1, Price: 2}},
			`{"id":"o","order":{"user_id":"u","ticket_id":"t","quantity":1,"price":2,"history":[]},` +
				`"point":{"reason":"","history":[]},"ticket":{"reason":"","history":[]}}`},
		{"no order", Envelope{ID: "o"},
			`{"id":"o","order":{"user_id":"","ticket_id":"","quantity":0,"price":0,"history":[]},` +
				`"point":{"reason":"","history":[]},"ticket":{"reason":"","history":[]}}`},
		{"record without id or reason", Envelope{ID: "o", Ticket: &Section{Reason: "sold_out",
			History: []Record{{EventType: saga.FailedTicket, Service: saga.TicketService, At: at}}}},
			`{"id":"o","order":{"user_id":"","ticket_id":"","quantity":0,"price":0,"history":[]},"point":{"reason":"","history":[]},` +
				`"ticket":{"reason":"sold_out","history":[{"event_type":"failed-ticket","service":"ticket-service","at":"2026-01-01T00:00:00Z","event_id":"","reason":""}]}}`},
	} {
		for _, v := range []any{tc.in, &tc.in} {
			got, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("%s: json.Marshal(%T) =\n%s\nwant\n%s", tc.name, v, got, tc.want)
			}
		}
	}
}

// TestDecodeTakesBothForms: an envelope in the older form (empty sections
// and fields left out), still in flight or stored, decodes as its complete
// form does, and Upgrade turns the one into the other.
func TestDecodeTakesBothForms(t *testing.T) {
	t.Parallel()
	old := `{"id":"o","order":{"user_id":"u","ticket_id":"t","quantity":1,"price":2,` +
		`"history":[{"event_type":"started-order","service":"order-service","at":"2026-01-01T00:00:00Z","event_id":"e1"}]},"point":{"reason":"x"}}`
	complete := `{"id":"o","order":{"user_id":"u","ticket_id":"t","quantity":1,"price":2,` +
		`"history":[{"event_type":"started-order","service":"order-service","at":"2026-01-01T00:00:00Z","event_id":"e1","reason":""}]},` +
		`"point":{"reason":"x","history":[]},"ticket":{"reason":"","history":[]}}`
	a, err := Decode([]byte(old))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Decode([]byte(complete))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Errorf("old form decodes to %+v, complete form to %+v", a, b)
	}
	if a.Ticket != nil || a.Point.History != nil {
		t.Errorf("empty parts decode as nil: %+v %+v", a.Ticket, a.Point)
	}
	if got := string(Upgrade([]byte(old))); got != complete {
		t.Errorf("Upgrade(old) =\n%s\nwant\n%s", got, complete)
	}
	if got := string(Upgrade([]byte("nope"))); got != "nope" {
		t.Errorf("Upgrade(undecodable) = %s", got)
	}
}
