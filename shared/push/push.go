// Package push decodes Pub/Sub push requests and turns a handler's result
// into an ack (204) or a retry (500) on purpose.
package push

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/ticketsaga/saga/shared/event"
	"github.com/ticketsaga/saga/shared/fault"
	"github.com/ticketsaga/saga/shared/platform/metrics"
	"github.com/ticketsaga/saga/shared/platform/telemetry"
	"github.com/ticketsaga/saga/shared/saga"
)

// MaxBody bounds a push request: Pub/Sub messages are at most 10 MB, ours
// are a few KiB.
const MaxBody = 1 << 20

// Message is a decoded push message.
type Message struct {
	ID              string
	DeliveryAttempt int // 0 when Pub/Sub does not say (the emulator)
	Data            []byte
	Attributes      map[string]string
	Subscription    string
}

// EventType returns the message's event_type attribute.
func (m Message) EventType() saga.EventType { return saga.EventType(m.Attributes[saga.AttrEventType]) }

type body struct {
	Message struct {
		// Data stays raw until the message turns out to be one this
		// endpoint handles: locally every endpoint sees every event.
		Data       json.RawMessage   `json:"data"`
		Attributes map[string]string `json:"attributes"`
		MessageID  string            `json:"messageId"`
	} `json:"message"`
	Subscription    string `json:"subscription"`
	DeliveryAttempt int    `json:"deliveryAttempt"`
}

// Decode reads a standard push body. A failure is poison (saga.Permanent).
func Decode(r *http.Request) (Message, error) {
	m, raw, err := decodeHead(r)
	if err != nil {
		return Message{}, err
	}
	return m, m.decodeData(raw)
}

// decodeHead reads a push body but its data.
func decodeHead(r *http.Request) (Message, json.RawMessage, error) {
	raw, err := io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
	if err != nil {
		return Message{}, nil, fmt.Errorf("read push body: %w", err)
	}
	if len(raw) > MaxBody {
		return Message{}, nil, saga.Poison("push body over %d bytes", MaxBody)
	}
	var b body
	if err := json.Unmarshal(raw, &b); err != nil {
		return Message{}, nil, saga.Poison("push body: %v", err)
	}
	return Message{ID: b.Message.MessageID, DeliveryAttempt: b.DeliveryAttempt,
		Attributes: b.Message.Attributes, Subscription: b.Subscription}, b.Message.Data, nil
}

func (m *Message) decodeData(raw json.RawMessage) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	if err := json.Unmarshal(raw, &m.Data); err != nil {
		return saga.Poison("push data: %v", err)
	}
	return nil
}

// Func handles one push message. nil acks; a poison message (saga.Poison), or
// any permanent error (fault.IsPermanent), is logged at ERROR and acked; any
// other error is a fault and asks Pub/Sub to retry with the subscription's
// backoff.
type Func func(ctx context.Context, m Message) error

// FailureRecorder remembers why a message failed, for operators: a
// message that keeps failing ends on the dead-letter topic, and the record
// says why.
type FailureRecorder interface {
	RecordFailure(ctx context.Context, m Message, err error) error
}

// Path is every service's push endpoint, as declared in infra/: one
// subscription per service, its handlers chosen by event_type.
const Path = "/push/events"

// Routes builds the handlers of a push endpoint from a service's step
// table (which event type runs which step) and its steps: each decodes the
// message's envelope and runs its step. Every step of the table must exist,
// and every step must run for some event type.
func Routes(table saga.Steps, steps map[string]event.Step, log *slog.Logger) (map[saga.EventType]Func, error) {
	if err := saga.CheckSteps(table, steps); err != nil {
		return nil, err
	}
	out := map[saga.EventType]Func{}
	for t, name := range table {
		step := steps[name]
		out[t] = func(ctx context.Context, m Message) error {
			in, err := Envelope(m)
			if err != nil {
				return err
			}
			res, err := step(ctx, m.EventType(), in)
			if err != nil {
				return err
			}
			level := slog.LevelDebug
			if res.Type.Unhappy() {
				level = slog.LevelInfo
			}
			log.Log(ctx, level, "step ran", "step", name, "order_id", in.ID, "cause", m.EventType(), "result", res.Type, "event_id", res.EventID)
			return nil
		}
	}
	return out, nil
}

// Endpoint builds push handlers.
type Endpoint struct {
	Log      *slog.Logger
	Failures FailureRecorder // optional
}

// Handler serves routes as one push endpoint: a message goes to the handler
// of its event_type, and other types are acked untouched, because the
// emulator ignores subscription filters. Only messages the endpoint handles
// have their data decoded.
func (e Endpoint) Handler(routes map[saga.EventType]Func) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		m, data, err := decodeHead(r)
		fn := routes[m.EventType()]
		if err == nil && (fn == nil || !m.For(m.SubscriptionName())) {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		// Only a message this endpoint handles gets a span: a child of the
		// publish that sent it, so the saga's hops form one trace.
		ctx, span := telemetry.StartProcess(ctx, m.SubscriptionName(), m.ID, m.DeliveryAttempt, telemetry.Message{EventType: m.Attributes[saga.AttrEventType],
			OrderID: m.Attributes[saga.AttrOrderID], EventID: m.Attributes[saga.AttrEventID], Source: m.Attributes[saga.AttrSource]}, m.Attributes)
		defer func() { telemetry.End(span, err) }()
		if err == nil {
			err = m.decodeData(data)
		}
		if err == nil {
			err = fn(ctx, m)
		}
		if err == nil {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		log := e.Log.With("path", r.URL.Path, "subscription", m.SubscriptionName(), "message_id", m.ID,
			"delivery_attempt", m.DeliveryAttempt, "event_type", m.Attributes[saga.AttrEventType],
			"order_id", m.Attributes[saga.AttrOrderID], "event_id", m.Attributes[saga.AttrEventID])
		if Acks(err) {
			metrics.Poisoned(ctx, m.EventType())
			log.ErrorContext(ctx, "dropping poison message: it can never succeed", "error", err.Error())
			w.WriteHeader(http.StatusNoContent)
			return
		}
		metrics.PushFailed(ctx, m.EventType(), m.DeliveryAttempt)
		log.WarnContext(ctx, "push handling failed; Pub/Sub will retry, then dead-letter", "error", err.Error())
		if e.Failures != nil {
			if rerr := e.Failures.RecordFailure(ctx, m, err); rerr != nil {
				log.WarnContext(ctx, "record push failure", "error", rerr.Error())
			}
		}
		http.Error(w, "retry later", http.StatusInternalServerError)
	})
}

// Acks reports whether a handler's result is acked: success, or an error
// retrying cannot help (poison), for which five attempts and a dead letter
// would only delay the operator who must look at it. Any other error asks
// for a retry.
func Acks(err error) bool { return err == nil || fault.IsPermanent(err) }

// Local is a service's push endpoint without HTTP: the protocol model's
// delivery, routed by the same step table.
type Local map[saga.EventType]Func

// NewLocal builds a Local from a service's step table and steps. A table
// that names a missing step is a programming error: it panics.
func NewLocal(table saga.Steps, steps map[string]event.Step) Local {
	routes, err := Routes(table, steps, slog.New(slog.DiscardHandler))
	if err != nil {
		panic(err)
	}
	return routes
}

// Deliver hands m to its route as the endpoint does. It returns nil when
// the endpoint would ack, and the error when Pub/Sub would retry.
func (l Local) Deliver(ctx context.Context, m event.Message) error {
	pm := Message{ID: m.EventID, Data: m.Data, Attributes: m.Attributes}
	fn := l[pm.EventType()]
	if fn == nil {
		return nil
	}
	if err := fn(ctx, pm); !Acks(err) {
		return err
	}
	return nil
}

// SubscriptionName is the last segment of the message's subscription.
func (m Message) SubscriptionName() string {
	s := m.Subscription
	if i := strings.LastIndexByte(s, '/'); i >= 0 {
		s = s[i+1:]
	}
	return s
}

// For reports whether subscription sub should handle m: every message but
// one redriven to another subscription.
func (m Message) For(sub string) bool {
	to := m.Attributes[saga.AttrRedriveTo]
	return to == "" || sub == "" || to == sub
}

// Envelope decodes m's data as a saga envelope, checking that it belongs to
// the order named in the attributes. A failure is poison.
func Envelope(m Message) (event.Envelope, error) {
	e, err := event.Decode(m.Data)
	if err != nil {
		return event.Envelope{}, saga.Poison("%v", err)
	}
	if id := m.Attributes[saga.AttrOrderID]; id != e.ID {
		return event.Envelope{}, saga.Poison("order_id attribute %q does not match envelope id %q", id, e.ID)
	}
	e.Replay = m.Attributes[saga.AttrReplay] != ""
	e.Source = m.Attributes[saga.AttrSource]
	return e, nil
}
