package telemetry

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// BenchmarkOneSagasSpans is what tracing costs one saga, alone: the spans
// the three services make for one order (the API request, the order's
// creation and long-poll, and for each of the three hops a publish, the
// consumer's span, the step and its transaction), the context carried
// through the attributes at each hop, and the batch export over OTLP/HTTP
// to a server that drops it. `make bench` measures the same on the whole
// stack, where the noise of the emulators is larger than this.
func BenchmarkOneSagasSpans(b *testing.B) {
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer sink.Close()
	ctx := context.Background()
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(sink.URL+"/v1/traces"))
	if err != nil {
		b.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp))
	Use(tp)
	defer func() { Use(nil); _ = tp.Shutdown(ctx) }()
	hops := []struct{ event, step string }{
		{"started-order", "point-service consume"}, {"consumed-point", "ticket-service grant"}, {"granted-ticket", "order-service settle"}}

	b.ReportAllocs()
	for b.Loop() {
		reqCtx, req := Start(ctx, "POST /orders")
		createCtx, create := Start(reqCtx, "order-service create order")
		attrs := Inject(createCtx, map[string]string{"event_type": "started-order", "order_id": "o1", "event_id": "e1", "source": "order-service"})
		create.End()
		_, wait := Start(reqCtx, "order-service long-poll wait")
		for _, h := range hops {
			_, pub, sent := StartPublish(ctx, "projects/p/topics/saga-events", Message{EventType: h.event, OrderID: "o1", EventID: "e1"}, attrs)
			pub.End()
			procCtx, proc := StartProcess(ctx, "events", "m1", 1, Message{EventType: h.event, OrderID: "o1", EventID: "e1"}, sent)
			stepCtx, step := Start(procCtx, h.step)
			_, tx := Start(stepCtx, "firestore transaction")
			tx.End()
			attrs = Inject(stepCtx, map[string]string{"event_type": h.event, "order_id": "o1", "event_id": "e2", "source": "x"})
			step.End()
			proc.End()
		}
		wait.End()
		req.End()
	}
	b.StopTimer()
	if err := tp.ForceFlush(ctx); err != nil {
		b.Fatal(err)
	}
}
