package telemetry

import (
	"context"
	"maps"
	"strings"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// The carrier is the Pub/Sub client library's: W3C tracecontext under
// "googclient_"-prefixed attributes (googclient_traceparent), where the
// library's own publisher and subscriber put it. The prefix keeps it apart
// from the saga's attributes (event_type, order_id, ...), on which the
// subscriptions filter.
func carrier(attrs map[string]string) propagation.TextMapCarrier {
	return pubsub.NewMessageCarrierFromPB(&pubsubpb.PubsubMessage{Attributes: attrs})
}

var tracecontext = propagation.TraceContext{}

// Inject returns attrs with the trace context of ctx's span added, in a
// copy: attrs may be a stored event's, shared. With no span to carry (or
// tracing off) it returns attrs itself.
func Inject(ctx context.Context, attrs map[string]string) map[string]string {
	if !Enabled() || !trace.SpanContextFromContext(ctx).IsValid() {
		return attrs
	}
	out := make(map[string]string, len(attrs)+2)
	maps.Copy(out, attrs)
	tracecontext.Inject(ctx, carrier(out))
	return out
}

// extract is the span context that attrs carry, invalid when none.
func extract(attrs map[string]string) trace.SpanContext {
	if attrs == nil {
		return trace.SpanContext{}
	}
	return trace.SpanContextFromContext(tracecontext.Extract(context.Background(), carrier(attrs)))
}

// Message is what a span on a saga message records about it.
type Message struct {
	EventType, OrderID, EventID, Source string
}

func (m Message) attributes() []attribute.KeyValue {
	return []attribute.KeyValue{attribute.String("messaging.system", "gcp_pubsub"),
		attribute.String("saga.event_type", m.EventType), attribute.String("saga.order_id", m.OrderID),
		attribute.String("saga.event_id", m.EventID), attribute.String("saga.source", m.Source)}
}

// StartPublish starts the producer span of publishing m on topic (a full
// name or an ID) and returns the attributes to send, carrying that span.
//
// Its parent is the trace context stored in attrs, when there is one: the
// step that caused the event, which may have run long before (an outbox
// sweep after a crash, a replay, a reconciliation). The span of ctx, the
// sweep's own, is then only linked. Otherwise ctx's span is the parent.
func StartPublish(ctx context.Context, topic string, m Message, attrs map[string]string) (context.Context, trace.Span, map[string]string) {
	if !Enabled() {
		return ctx, noop.Span{}, attrs
	}
	parent, opts := storedParent(ctx, attrs)
	id := topic[strings.LastIndexByte(topic, '/')+1:]
	opts = append(opts, trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(append(m.attributes(), attribute.String("messaging.destination.name", id))...))
	ctx, span := tracer().Start(parent, id+" publish", opts...)
	return ctx, span, Inject(ctx, attrs)
}

// StartProcess starts the consumer span of handling a pushed message: a
// child of the publish that sent it, as its attributes carry it. The push
// request itself gets no span: its trace is the message's.
func StartProcess(ctx context.Context, subscription, messageID string, deliveryAttempt int, m Message, attrs map[string]string) (context.Context, trace.Span) {
	if !Enabled() {
		return ctx, noop.Span{}
	}
	opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(append(m.attributes(), attribute.String("messaging.destination.subscription.name", subscription),
			attribute.String("messaging.message.id", messageID), attribute.Int("messaging.gcp_pubsub.message.delivery_attempt", deliveryAttempt))...)}
	parent, link := storedParent(ctx, attrs)
	return tracer().Start(parent, subscription+" process", append(opts, link...)...)
}

// StartFrom starts a span whose parent is the trace context stored in
// attrs (a stored event's), when there is one, rather than ctx's span:
// work a sweep does for a saga then lands in the saga's trace.
func StartFrom(ctx context.Context, name string, attrs map[string]string, kv ...attribute.KeyValue) (context.Context, trace.Span) {
	if !Enabled() {
		return ctx, noop.Span{}
	}
	parent, opts := storedParent(ctx, attrs)
	return tracer().Start(parent, name, append(opts, trace.WithAttributes(kv...))...)
}

// storedParent is the context to start a span in: with the span context
// attrs carry as the parent, when they carry one, and then a link to the
// span of ctx if that is another trace's (a sweep's, a push request's).
func storedParent(ctx context.Context, attrs map[string]string) (context.Context, []trace.SpanStartOption) {
	stored := extract(attrs)
	if !stored.IsValid() {
		return ctx, nil
	}
	var opts []trace.SpanStartOption
	if cur := trace.SpanContextFromContext(ctx); cur.IsValid() && cur.TraceID() != stored.TraceID() {
		opts = append(opts, trace.WithLinks(trace.Link{SpanContext: cur}))
	}
	return trace.ContextWithRemoteSpanContext(ctx, stored), opts
}
