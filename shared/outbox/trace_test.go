package outbox_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/firestore"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/ticketsaga/saga/shared/emutest"
	"github.com/ticketsaga/saga/shared/saga"
	"github.com/ticketsaga/saga/shared/telemetry"
)

// TestSweptPublishJoinsTheStepsTrace: a step that crashed between its
// commit and its publish leaves its event to the outbox sweep, which runs
// in a trace of its own; the sweep's publish is still the child of the
// step's span (stored with the event), in the saga's trace, and links the
// sweep. The saga's attributes go out as they were.
//
// Not parallel: the tracer provider is global.
func TestSweptPublishJoinsTheStepsTrace(t *testing.T) {
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

	time.Sleep(5 * time.Millisecond) // past the outbox's 1 ms grace
	steps.AfterCommit = nil
	sweepCtx, sweep := telemetry.Start(context.Background(), "POST /tasks/outbox")
	res, err := steps.Sweep(sweepCtx, []string{"consume"})
	sweep.End()
	if err != nil || res.Republished != 1 {
		t.Fatalf("sweep = %+v, %v", res, err)
	}

	var step, pub sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		switch s.Name() {
		case saga.PointService + " consume":
			step = s
		case "saga-events publish":
			pub = s
		}
	}
	if step == nil || pub == nil {
		t.Fatalf("step span %v, publish span %v", step != nil, pub != nil)
	}
	trace := sagaSpan.SpanContext().TraceID()
	if step.SpanContext().TraceID() != trace || pub.SpanContext().TraceID() != trace || pub.Parent().SpanID() != step.SpanContext().SpanID() {
		t.Errorf("publish %v (parent %v), want a child of the step %v in trace %v", pub.SpanContext(), pub.Parent(), step.SpanContext(), trace)
	}
	if links := pub.Links(); len(links) != 1 || links[0].SpanContext.SpanID() != sweep.SpanContext().SpanID() {
		t.Errorf("publish links %v, want the sweep's span", links)
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
