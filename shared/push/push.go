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

	"github.com/ticketsaga/saga/shared/event"
)

// MaxBody bounds a push request: Pub/Sub messages are at most 10 MB, ours
// are a few KiB.
const MaxBody = 1 << 20

// Message is a decoded push message.
type Message struct {
	ID           string
	Data         []byte
	Attributes   map[string]string
	Subscription string
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
		Data       []byte            `json:"data"`
		Attributes map[string]string `json:"attributes"`
		MessageID  string            `json:"messageId"`
		MessageId2 string            `json:"message_id"`
	} `json:"message"`
	Subscription string `json:"subscription"`
}

// Decode reads a standard push body. A failure wraps ErrPoison.
func Decode(r *http.Request) (Message, error) {
	raw, err := io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
	if err != nil {
		return Message{}, fmt.Errorf("read push body: %w", err)
	}
	if len(raw) > MaxBody {
		return Message{}, Poison("push body over %d bytes", MaxBody)
	}
	var b body
	if err := json.Unmarshal(raw, &b); err != nil {
		return Message{}, Poison("push body: %v", err)
	}
	id := b.Message.MessageID
	if id == "" {
		id = b.Message.MessageId2
	}
	return Message{ID: id, Data: b.Message.Data, Attributes: b.Message.Attributes, Subscription: b.Subscription}, nil
}

// Func handles one push message. nil acks; an error wrapping ErrPoison is
// logged at ERROR and acked; any other error is a fault and asks Pub/Sub to
// retry with the subscription's backoff.
type Func func(ctx context.Context, m Message) error

// Handler serves fn as a push endpoint that handles only the given event
// types: others are acked untouched, because the emulator ignores
// subscription filters.
func Handler(log *slog.Logger, fn Func, types ...event.Type) http.Handler {
	handled := map[event.Type]bool{}
	for _, t := range types {
		handled[t] = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		m, err := Decode(r)
		if err == nil && !handled[m.EventType()] {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if err == nil {
			err = fn(ctx, m)
		}
		attrs := []any{"path", r.URL.Path, "message_id", m.ID, "event_type", m.Attributes[event.AttrEventType],
			"order_id", m.Attributes[event.AttrOrderID], "event_id", m.Attributes[event.AttrEventID]}
		switch {
		case err == nil:
			w.WriteHeader(http.StatusNoContent)
		case errors.Is(err, ErrPoison):
			log.ErrorContext(ctx, "dropping poison message", append(attrs, "error", err.Error())...)
			w.WriteHeader(http.StatusNoContent)
		default:
			log.WarnContext(ctx, "push handling failed; Pub/Sub will retry", append(attrs, "error", err.Error())...)
			http.Error(w, "retry later", http.StatusInternalServerError)
		}
	})
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
	return e, nil
}
