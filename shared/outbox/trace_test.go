package outbox_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"cloud.google.com/go/firestore"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/ticketsaga/saga/shared/platform/emutest"
	"github.com/ticketsaga/saga/shared/platform/telemetry"
	"github.com/ticketsaga/saga/shared/saga"
)

// TestRepublishJoinsTheStepsTrace: a step that crashed between its commit
// and its publish leaves its event to the next delivery of its input,
// which runs in a trace of its own (a replay's, say); that publish is
// still the child of the first run's span (stored with the event), in the
// saga's trace, and links the run that sent it. The saga's attributes go
// out as they were.
//
// Not parallel: the tracer provider is global.
func TestRepublishJoinsTheStepsTrace(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	telemetry.Use(tp)
	t.Cleanup(func() { telemetry.Use(nil); _ = tp.Shutdown(context.Background()) })
	p := emutest.New(t)
	steps := p.Outbox("trace_sagas", saga.PointService)
	crash := errors.New("crash after commit")
	steps.AfterCommit = func(string) { panic(crash) }
	r := runner{Steps: steps}

	sagaCtx, sagaSpan := telemetry.Start(context.Background(), "started-order process")
	func() {
		defer func() {
			p := recover()
			if err, _ := p.(error); !errors.Is(err, crash) {
				t.Fatalf("the step did not crash after its commit: %v", p)
			}
		}()
		_, _ = r.Run(sagaCtx, "consume", envelope("o1"), nil, func(*firestore.Transaction, *record, []*firestore.DocumentSnapshot) (saga.Outcome, error) {
			return saga.Outcome{Event: saga.ConsumedPoint}, nil
		})
	}()
	sagaSpan.End()
	if got := p.Published(t); len(got) != 0 {
		t.Fatalf("the crashed step published %d events", len(got))
	}

	againCtx, again := telemetry.Start(context.Background(), "push of the replayed started-order")
	_, err := r.Run(againCtx, "consume", envelope("o1"), nil, func(*firestore.Transaction, *record, []*firestore.DocumentSnapshot) (saga.Outcome, error) {
		t.Fatal("the step ran again")
		return saga.Outcome{}, nil
	})
	again.End()
	if err != nil {
		t.Fatalf("second run: %v", err)
	}

	var stepSpans []sdktrace.ReadOnlySpan
	var pub sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		switch s.Name() {
		case saga.PointService + " consume":
			stepSpans = append(stepSpans, s)
		case "saga-events publish":
			pub = s
		}
	}
	if len(stepSpans) != 2 || pub == nil {
		t.Fatalf("%d step spans (want the crashed run's and the second), publish span %v", len(stepSpans), pub != nil)
	}
	step, rerun := stepSpans[0], stepSpans[1]
	trace := sagaSpan.SpanContext().TraceID()
	if step.SpanContext().TraceID() != trace || pub.SpanContext().TraceID() != trace || pub.Parent().SpanID() != step.SpanContext().SpanID() {
		t.Errorf("publish %v (parent %v), want a child of the step %v in trace %v", pub.SpanContext(), pub.Parent(), step.SpanContext(), trace)
	}
	if links := pub.Links(); len(links) != 1 || links[0].SpanContext.SpanID() != rerun.SpanContext().SpanID() {
		t.Errorf("publish links %v, want the second run's span", links)
	}
	got := p.Published(t)
	if len(got) != 1 {
		t.Fatalf("published %d messages", len(got))
	}
	a := got[0].Attributes
	if a[saga.AttrEventType] != string(saga.ConsumedPoint) || a[saga.AttrOrderID] != "o1" || a[saga.AttrSource] != saga.PointService ||
		!strings.Contains(a["googclient_traceparent"], pub.SpanContext().SpanID().String()) {
		t.Errorf("attributes %v", a)
	}
}
