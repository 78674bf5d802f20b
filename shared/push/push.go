// Package push decodes Pub/Sub push requests and turns a handler's result
// into an ack (204) or a retry (500) on purpose.
package push

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/ticketsaga/saga/shared/event"
	"github.com/ticketsaga/saga/shared/fault"
	"github.com/ticketsaga/saga/shared/metrics"
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
func (m Message) EventType() event.Type { return event.Type(m.Attributes[event.AttrEventType]) }

// ErrPoison marks a message that can never succeed: it is logged at ERROR
// and acked, so it is not retried forever.
var ErrPoison = errors.New("poison message")

// Poison wraps err as a poison-message error.
func Poison(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrPoison, fmt.Sprintf(format, args...))
}

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

// Decode reads a standard push body. A failure wraps ErrPoison.
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
		return Message{}, nil, Poison("push body over %d bytes", MaxBody)
	}
	var b body
	if err := json.Unmarshal(raw, &b); err != nil {
		return Message{}, nil, Poison("push body: %v", err)
	}
	return Message{ID: b.Message.MessageID, DeliveryAttempt: b.DeliveryAttempt,
		Attributes: b.Message.Attributes, Subscription: b.Subscription}, b.Message.Data, nil
}

func (m *Message) decodeData(raw json.RawMessage) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	if err := json.Unmarshal(raw, &m.Data); err != nil {
		return Poison("push data: %v", err)
	}
	return nil
}

// Func handles one push message. nil acks; an error wrapping ErrPoison, or
// any permanent error (fault.IsPermanent), is logged at ERROR and acked; any
// other error is a fault and asks Pub/Sub to retry with the subscription's
// backoff.
type Func func(ctx context.Context, m Message) error

// AttrRedriveTo marks a message redriven from the dead-letter topic: only
// the named subscription handles it. Subscription filters route it in
// production; the handler checks it too, for the emulator.
const AttrRedriveTo = "redrive_to"

// FailureRecorder remembers why a message failed, for operators: a
// message that keeps failing ends on the dead-letter topic, and the record
// says why.
type FailureRecorder interface {
	RecordFailure(ctx context.Context, m Message, err error) error
}

// Path is every service's push endpoint, as declared in infra/: one
// subscription per service, its handlers chosen by event_type.
const Path = "/push/events"

// Routes maps the event types an endpoint handles to their handlers.
type Routes map[event.Type]Func

// Endpoint builds push handlers.
type Endpoint struct {
	Log      *slog.Logger
	Failures FailureRecorder // optional
}

// Handler serves routes as one push endpoint: a message goes to the handler
// of its event_type, and other types are acked untouched, because the
// emulator ignores subscription filters. Only messages the endpoint handles
// have their data decoded.
func (e Endpoint) Handler(routes Routes) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		m, data, err := decodeHead(r)
		fn := routes[m.EventType()]
		if err == nil && (fn == nil || !m.For(m.SubscriptionName())) {
			w.WriteHeader(http.StatusNoContent)
			return
		}
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
			"delivery_attempt", m.DeliveryAttempt, "event_type", m.Attributes[event.AttrEventType],
			"order_id", m.Attributes[event.AttrOrderID], "event_id", m.Attributes[event.AttrEventID])
		if errors.Is(err, ErrPoison) || fault.IsPermanent(err) {
			// Retrying cannot help: five attempts and a dead letter would
			// only delay the operator who must look at it.
			metrics.PoisonMessages.Add(1)
			log.ErrorContext(ctx, "dropping poison message: it can never succeed", "error", err.Error())
			w.WriteHeader(http.StatusNoContent)
			return
		}
		log.WarnContext(ctx, "push handling failed; Pub/Sub will retry, then dead-letter", "error", err.Error())
		if e.Failures != nil {
			if rerr := e.Failures.RecordFailure(ctx, m, err); rerr != nil {
				log.WarnContext(ctx, "record push failure", "error", rerr.Error())
			}
		}
		http.Error(w, "retry later", http.StatusInternalServerError)
	})
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
	to := m.Attributes[AttrRedriveTo]
	return to == "" || sub == "" || to == sub
}

// Envelope decodes m's data as a saga envelope, checking that it belongs to
// the order named in the attributes. A failure wraps ErrPoison.
func Envelope(m Message) (event.Envelope, error) {
	e, err := event.Decode(m.Data)
	if err != nil {
		return event.Envelope{}, Poison("%v", err)
	}
	if id := m.Attributes[event.AttrOrderID]; id != e.ID {
		return event.Envelope{}, Poison("order_id attribute %q does not match envelope id %q", id, e.ID)
	}
	e.Replay = m.Attributes[event.AttrReplay] != ""
	return e, nil
}
