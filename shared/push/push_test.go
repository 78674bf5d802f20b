package push

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ticketsaga/saga/shared/event"
	"github.com/ticketsaga/saga/shared/saga"
)

func TestHandlerAckOrRetry(t *testing.T) {
	t.Parallel()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	data := base64.StdEncoding.EncodeToString([]byte(`{"id":"o1"}`))
	msg := func(typ string) string {
		return `{"message":{"data":"` + data + `","attributes":{"event_type":"` + typ + `","order_id":"o1"},"messageId":"1"},"subscription":"s"}`
	}
	for _, tc := range []struct {
		name   string
		body   string
		result error
		want   int
		called bool
	}{
		{"handled ok", msg("started-order"), nil, 204, true},
		{"not handled", msg("granted-ticket"), errors.New("must not be called"), 204, false},
		{"fault", msg("started-order"), errors.New("firestore down"), 500, true},
		{"poison", msg("started-order"), saga.Poison("bad"), 204, true},
		{"corrupt document", msg("started-order"), fmt.Errorf("consume: %w", saga.CorruptRecord("point_sagas/o1", errors.New("bad"))), 204, true},
		{"refused by firestore", msg("started-order"), status.Error(codes.InvalidArgument, "bad name"), 204, true},
		{"unavailable", msg("started-order"), status.Error(codes.Unavailable, "down"), 500, true},
		{"garbage", `not json`, nil, 204, false},
		{"empty", ``, nil, 204, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			called := false
			h := Endpoint{Log: log}.Handler(map[saga.EventType]Func{saga.StartedOrder: func(ctx context.Context, m Message) error {
				called = true
				return tc.result
			}})
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest("POST", "/", strings.NewReader(tc.body)))
			if w.Code != tc.want || called != tc.called {
				t.Fatalf("status %d called %v, want %d %v", w.Code, called, tc.want, tc.called)
			}
		})
	}
}

func TestEnvelopeChecksOrderID(t *testing.T) {
	t.Parallel()
	m := Message{Data: []byte(`{"id":"o1","order":{"user_id":"u","ticket_id":"t","quantity":1,"price":1}}`),
		Attributes: map[string]string{saga.AttrOrderID: "o2"}}
	if _, err := Envelope(m); saga.KindOf(err) != saga.Permanent {
		t.Fatalf("err = %v, want poison", err)
	}
	m.Attributes[saga.AttrOrderID] = "o1"
	if _, err := Envelope(m); err != nil {
		t.Fatalf("err = %v", err)
	}
}

func TestRedrivenMessageOnlyForItsSubscription(t *testing.T) {
	t.Parallel()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	called := 0
	h := Endpoint{Log: log}.Handler(map[saga.EventType]Func{saga.StartedOrder: func(ctx context.Context, m Message) error { called++; return nil }})
	body := func(sub string) string {
		return `{"message":{"data":"e30=","attributes":{"event_type":"started-order","redrive_to":"point-events"}},"subscription":"projects/p/subscriptions/` + sub + `"}`
	}
	for _, sub := range []string{"other-sub", "point-events"} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("POST", "/", strings.NewReader(body(sub))))
		if w.Code != 204 {
			t.Fatalf("%s: status %d", sub, w.Code)
		}
	}
	if called != 1 {
		t.Fatalf("handled %d times, want once (by point-events only)", called)
	}
}

func TestHandlerDispatchesByEventType(t *testing.T) {
	t.Parallel()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var got []saga.EventType
	route := func(t saga.EventType) Func {
		return func(ctx context.Context, m Message) error { got = append(got, t); return nil }
	}
	h := Endpoint{Log: log}.Handler(map[saga.EventType]Func{saga.FailedTicket: route(saga.FailedTicket), saga.CanceledTicket: route(saga.CanceledTicket)})
	for _, typ := range []string{"canceled-ticket", "started-order", "failed-ticket"} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("POST", Path, strings.NewReader(`{"message":{"data":"e30=","attributes":{"event_type":"`+typ+`"}},"subscription":"s"}`)))
		if w.Code != 204 {
			t.Fatalf("%s: status %d", typ, w.Code)
		}
	}
	if len(got) != 2 || got[0] != saga.CanceledTicket || got[1] != saga.FailedTicket {
		t.Fatalf("handled %v, want [canceled-ticket failed-ticket]", got)
	}
}

func TestEnvelopeCarriesTheReplayMark(t *testing.T) {
	t.Parallel()
	data := []byte(`{"id":"o1","order":{"user_id":"u","ticket_id":"t","quantity":1,"price":1}}`)
	for _, tc := range []struct {
		attrs map[string]string
		want  bool
	}{
		{map[string]string{saga.AttrOrderID: "o1"}, false},
		{map[string]string{saga.AttrOrderID: "o1", saga.AttrReplay: "1"}, true},
	} {
		e, err := Envelope(Message{Data: data, Attributes: tc.attrs})
		if err != nil || e.Replay != tc.want {
			t.Errorf("Envelope(%v) replay = %v, %v; want %v", tc.attrs, e.Replay, err, tc.want)
		}
	}
}

// TestRoutesFollowTheTable: the push routes run the step of each event type
// in the table, and a table naming a step that does not exist (or a step
// no event runs) is refused.
func TestRoutesFollowTheTable(t *testing.T) {
	t.Parallel()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var ran []string
	step := func(name string) event.Step {
		return func(ctx context.Context, typ saga.EventType, in event.Envelope) (event.Message, error) {
			ran = append(ran, name+":"+string(typ))
			return event.Message{}, nil
		}
	}
	table := saga.Steps{saga.FailedTicket: "refund", saga.CanceledTicket: "refund", saga.StartedOrder: "consume"}
	routes, err := Routes(table, map[string]event.Step{"refund": step("refund"), "consume": step("consume")}, log)
	if err != nil {
		t.Fatal(err)
	}
	data := `{"id":"o1","order":{"user_id":"u","ticket_id":"t","quantity":1,"price":1}}`
	for _, typ := range []saga.EventType{saga.CanceledTicket, saga.StartedOrder} {
		m := Message{Data: []byte(data), Attributes: map[string]string{saga.AttrOrderID: "o1", saga.AttrEventType: string(typ)}}
		if err := routes[typ](context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	if want := []string{"refund:canceled-ticket", "consume:started-order"}; !slices.Equal(ran, want) {
		t.Errorf("ran %v, want %v", ran, want)
	}
	if _, err := Routes(table, map[string]event.Step{"refund": step("refund")}, log); err == nil {
		t.Error("a table naming a missing step was accepted")
	}
	if _, err := Routes(table, map[string]event.Step{"refund": step("refund"), "consume": step("consume"), "grant": step("grant")}, log); err == nil {
		t.Error("a step no event runs was accepted")
	}
}
