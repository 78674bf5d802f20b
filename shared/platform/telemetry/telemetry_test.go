package telemetry

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// record turns tracing on for one test, into an in-memory recorder.
func record(t *testing.T) *tracetest.SpanRecorder {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	Use(tp)
	t.Cleanup(func() { Use(nil); _ = tp.Shutdown(context.Background()) })
	return rec
}

func TestOffCostsNothing(t *testing.T) {
	ctx := context.Background()
	attrs := map[string]string{"event_type": "started-order"}
	if got, span := Start(ctx, "x"); got != ctx || span.SpanContext().IsValid() {
		t.Fatal("Start with tracing off made a span")
	}
	if out := Inject(ctx, attrs); len(out) != 1 {
		t.Fatalf("Inject with tracing off = %v", out)
	}
	if _, span, out := StartPublish(ctx, "saga-events", Message{}, attrs); span.SpanContext().IsValid() || len(out) != 1 {
		t.Fatalf("StartPublish with tracing off = %v", out)
	}
}

// TestPublishCarriesTheStepOn: the step's context stored with an event is
// the parent of a later publish made from another trace (a sweep's), which
// is linked; the message carries the publish span under the Pub/Sub
// library's googclient_ prefix, leaving the saga's attributes as they were;
// the consumer's span is the publish span's child.
func TestPublishCarriesTheStepOn(t *testing.T) {
	rec := record(t)
	stepCtx, step := Start(context.Background(), "point-service consume")
	attrs := map[string]string{"event_type": "consumed-point", "order_id": "o1"}
	stored := Inject(stepCtx, attrs)
	step.End()
	if len(attrs) != 2 || !strings.HasPrefix(stored["googclient_traceparent"], "00-"+step.SpanContext().TraceID().String()) {
		t.Fatalf("stored %v (attrs now %v)", stored, attrs)
	}

	sweepCtx, sweep := Start(context.Background(), "POST /tasks/sweep")
	_, pub, sent := StartPublish(sweepCtx, "projects/p/topics/saga-events", Message{EventType: "consumed-point", OrderID: "o1"}, stored)
	pub.End()
	sweep.End()
	if sent["event_type"] != "consumed-point" || sent["order_id"] != "o1" || sent["googclient_traceparent"] == stored["googclient_traceparent"] {
		t.Fatalf("sent %v", sent)
	}

	_, proc := StartProcess(context.Background(), "ticket-events", "m1", 1, Message{EventType: "consumed-point"}, sent)
	proc.End()

	spans := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range rec.Ended() {
		spans[s.Name()] = s
	}
	p, c := spans["saga-events publish"], spans["ticket-events process"]
	if p == nil || c == nil {
		t.Fatalf("spans = %v", spans)
	}
	if p.Parent().SpanID() != step.SpanContext().SpanID() || p.SpanContext().TraceID() != step.SpanContext().TraceID() {
		t.Errorf("publish parent = %v, want the step %v", p.Parent(), step.SpanContext())
	}
	if len(p.Links()) != 1 || p.Links()[0].SpanContext.SpanID() != sweep.SpanContext().SpanID() {
		t.Errorf("publish links = %v, want the sweep", p.Links())
	}
	if c.Parent().SpanID() != p.SpanContext().SpanID() || c.SpanKind() != trace.SpanKindConsumer || p.SpanKind() != trace.SpanKindProducer {
		t.Errorf("process parent = %v, want the publish %v", c.Parent(), p.SpanContext())
	}
}

func TestCheckExporter(t *testing.T) {
	for _, ok := range []string{"", "stdout", "otlp", "file:/tmp/t.json"} {
		if err := CheckExporter(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"file:", "jaeger", "STDOUT"} {
		if CheckExporter(bad) == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestFileExporter: TRACE_EXPORTER=file:<path> appends one JSON span a
// line, flushed by shutdown.
func TestFileExporter(t *testing.T) {
	path := t.TempDir() + "/traces.json"
	shutdown, err := Setup(context.Background(), Config{Service: "order-service", Project: "p", Exporter: "file:" + path, SampleRatio: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { Use(nil) })
	ctx, span := Start(context.Background(), "order-service create order")
	span.End()
	if err := shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	var got struct {
		Name        string
		SpanContext struct{ TraceID string }
	}
	if len(lines) != 1 || json.Unmarshal([]byte(lines[0]), &got) != nil || got.Name != "order-service create order" || got.SpanContext.TraceID != TraceID(ctx) {
		t.Fatalf("trace file %q", raw)
	}
}
