package e2e

import (
	"context"
	"net/http"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/ticketsaga/saga/order-service/ops"
	"github.com/ticketsaga/saga/shared/platform/telemetry"
)

// TestOneTracePerSaga: one purchase, run by the three services with real
// pushes, is one trace. Its id is the one stored on the order (what
// sagactl timeline prints), and every Pub/Sub hop is a parent-child link:
// the consumer's span is the child of the publish that sent the message,
// and that publish the child of the step that caused it.
//
// Not parallel: the tracer provider is global, shared by the three
// services in this process as Cloud Trace joins three processes.
func TestOneTracePerSaga(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	telemetry.Use(tp)
	t.Cleanup(func() { telemetry.Use(nil); _ = tp.Shutdown(context.Background()) })
	s := startStack(t, stackOptions{timeout: 30 * time.Second})

	user, ticket := uniq("tracy"), uniq("gig")
	s.seedAccount(t, user, 10000)
	s.seedTicket(t, ticket, 1000, 5)
	r := s.buy(t, user, "", order(user, ticket, 1, 1000))
	mustStatus(t, r, http.StatusCreated)
	id := r.str("order_id")

	tl, err := ops.OrderTimeline(context.Background(), s.fs, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(tl.TraceID) != 32 {
		t.Fatalf("order %s stores trace id %q", id, tl.TraceID)
	}

	// The settle's push span may end just after the answer.
	var spans []sdktrace.ReadOnlySpan
	find := func(name, eventType string) sdktrace.ReadOnlySpan {
		for _, sp := range spans {
			if sp.Name() == name && (eventType == "" || attr(sp, "saga.event_type") == eventType) && attr(sp, "saga.order_id") == id {
				return sp
			}
		}
		return nil
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		spans = rec.Ended()
		if find("order-events process", "granted-ticket") != nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond) // polling the recorder for the last span to end
	}

	create := find("order-service create order", "")
	if create == nil {
		t.Fatalf("no create span for order %s among %d spans", id, len(spans))
	}
	server := byID(spans, create.Parent().SpanID())
	if server == nil || server.SpanKind() != trace.SpanKindServer || server.Name() != "POST /orders" {
		t.Errorf("the create span's parent is %v, want the server span of POST /orders", server)
	}
	// Each hop: the step that caused the event, its publish, the consumer.
	for _, hop := range []struct{ eventType, cause, sub string }{
		{"started-order", "order-service create order", "point-events"},
		{"consumed-point", "point-service consume", "ticket-events"},
		{"granted-ticket", "ticket-service grant", "order-events"},
	} {
		pub, proc := find("saga-events publish", hop.eventType), find(hop.sub+" process", hop.eventType)
		if pub == nil || proc == nil {
			t.Errorf("%s: publish span %v, %s span %v", hop.eventType, pub != nil, hop.sub, proc != nil)
			continue
		}
		if pub.SpanKind() != trace.SpanKindProducer || proc.SpanKind() != trace.SpanKindConsumer {
			t.Errorf("%s: kinds %v -> %v", hop.eventType, pub.SpanKind(), proc.SpanKind())
		}
		if proc.Parent().SpanID() != pub.SpanContext().SpanID() {
			t.Errorf("%s: %s's parent is %s, want the publish %s", hop.eventType, proc.Name(), proc.Parent().SpanID(), pub.SpanContext().SpanID())
		}
		// A step may run more than once in one push (ticket-service
		// retries a grant whose transaction lost a race): any run will do.
		if cause := byID(spans, pub.Parent().SpanID()); cause == nil || cause.Name() != hop.cause {
			t.Errorf("%s: the publish's parent is %v, want %q", hop.eventType, cause, hop.cause)
		}
	}
	// Every hop's step runs in its consumer's span.
	for step, sub := range map[string]string{"point-service consume": "point-events", "ticket-service grant": "ticket-events"} {
		st := find(step, "")
		if st == nil {
			t.Errorf("no %s span", step)
			continue
		}
		if proc := byID(spans, st.Parent().SpanID()); proc == nil || proc.Name() != sub+" process" {
			t.Errorf("%s does not run in the %s process span", step, sub)
		}
	}
	if find("order-service long-poll wait", "") == nil {
		t.Error("no long-poll wait span")
	}
	n := 0
	for _, sp := range spans {
		if attr(sp, "saga.order_id") == id {
			n++
			if got := sp.SpanContext().TraceID().String(); got != tl.TraceID {
				t.Errorf("span %q is in trace %s, want the order's %s", sp.Name(), got, tl.TraceID)
			}
		}
	}
	t.Logf("order %s: %d spans in trace %s", id, n, tl.TraceID)
	if t.Failed() {
		for _, sp := range spans {
			if sp.SpanContext().TraceID().String() == tl.TraceID {
				t.Logf("%s %s <- %s %s", sp.SpanContext().SpanID(), sp.Name(), sp.Parent().SpanID(), attr(sp, "saga.event_type"))
			}
		}
	}
}

func attr(sp sdktrace.ReadOnlySpan, key string) string {
	for _, kv := range sp.Attributes() {
		if kv.Key == attribute.Key(key) {
			return kv.Value.String()
		}
	}
	return ""
}

func byID(spans []sdktrace.ReadOnlySpan, id trace.SpanID) sdktrace.ReadOnlySpan {
	for _, sp := range spans {
		if sp.SpanContext().SpanID() == id {
			return sp
		}
	}
	return nil
}
