package metrics

import (
	"context"
	"slices"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/ticketsaga/saga/shared/event"
	"github.com/ticketsaga/saga/shared/saga"
)

// Instrument names, as OpenTelemetry names them; the Prometheus text and
// Cloud Monitoring write them with underscores, `_total` after a counter's
// name and `_seconds` after the step duration's (see docs/operations.md).
const (
	NameSagasEnded      = "saga.orders.ended"       // counter; outcome, reason
	NameStepDuration    = "saga.step.duration"      // histogram, s; service, step, outcome
	NamePublishFailures = "saga.publish.failures"   // counter; service, event_type
	NamePushFailures    = "saga.push.failures"      // counter; event_type
	NameDeadLetters     = "saga.dead_letters"       // counter; event_type, kind
	NameLongPolls       = "saga.long_polls"         // gauge (up-down)
	NameLongPollLimit   = "saga.long_polls.limit"   // gauge
	NameSweptOrders     = "saga.sweep.orders"       // counter; result
	NameReconcileRuns   = "saga.reconcile.runs"     // counter; result
	NameFindings        = "saga.reconcile.findings" // counter; kind
	NameRepairs         = "saga.reconcile.repairs"  // counter
	NamePublishes       = "saga.pubsub.publishes"   // counter (cost)
	NameFirestoreReads  = "saga.firestore.reads"    // counter (cost)
	NameFirestoreWrites = "saga.firestore.writes"   // counter (cost)
)

// DeadLetterAttempts is the subscriptions' max_delivery_attempts
// (infra/pubsub.json; a test there holds them equal): a delivery that fails
// on this attempt goes to the dead-letter topic. Pub/Sub says which attempt
// a push is only when the subscription dead-letters, so the emulator's
// failures all count as push failures, none as dead letters.
const DeadLetterAttempts = 5

// stepBuckets are the step duration's bucket bounds in seconds: a step is
// one Firestore transaction and one publish, tens of milliseconds when
// healthy, seconds when Firestore contends or retries.
var stepBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

// instruments are the process's instruments, when metrics are on.
type instruments struct {
	ended, publishFailures, pushFailures, deadLetters metric.Int64Counter
	swept, runs, findings, repairs                    metric.Int64Counter
	stepDuration                                      metric.Float64Histogram
}

func newInstruments(m metric.Meter) (*instruments, error) {
	var (
		i    instruments
		errs []error
	)
	counter := func(dst *metric.Int64Counter, name, unit, desc string) {
		c, err := m.Int64Counter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		*dst = c
	}
	counter(&i.ended, NameSagasEnded, "{order}", "Orders that reached a terminal state, by outcome (completed, failed, cancelled) and reason.")
	counter(&i.publishFailures, NamePublishFailures, "{message}", "Saga events whose publish to Pub/Sub failed (the step answers 5xx and is redelivered; the order's replay sends it if no redelivery comes).")
	counter(&i.pushFailures, NamePushFailures, "{delivery}", "Push deliveries answered 5xx: Pub/Sub retries them, then dead-letters them.")
	counter(&i.deadLetters, NameDeadLetters, "{delivery}", "Deliveries given up: failed on their last attempt (kind dead_letter) or acked as poison (kind poison).")
	counter(&i.swept, NameSweptOrders, "{order}", "What the timeout sweep did to orders: timed_out (stopped), replayed, gave_up, failed.")
	counter(&i.runs, NameReconcileRuns, "{run}", "Reconciliation runs, by result (done, failed).")
	counter(&i.findings, NameFindings, "{finding}", "Reconciliation findings, by kind (inconsistent, unfinished, unreadable).")
	counter(&i.repairs, NameRepairs, "{finding}", "Findings the reconciliation repaired by re-publishing an event.")
	h, err := m.Float64Histogram(NameStepDuration, metric.WithUnit("s"), metric.WithExplicitBucketBoundaries(stepBuckets...),
		metric.WithDescription("Duration of one saga step: its Firestore transaction and the publish of its event."))
	errs = append(errs, err)
	i.stepDuration = h

	gauge := func(read func() int64) metric.Int64Callback {
		return func(_ context.Context, o metric.Int64Observer) error {
			if v := read(); v > 0 {
				o.Observe(v)
			}
			return nil
		}
	}
	cost := func(name, unit, desc string, v interface{ Load() int64 }) {
		_, err := m.Int64ObservableCounter(name, metric.WithUnit(unit), metric.WithDescription(desc),
			metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error { o.Observe(v.Load()); return nil }))
		errs = append(errs, err)
	}
	cost(NamePublishes, "{message}", "Pub/Sub publishes (cost).", &Publishes)
	cost(NameFirestoreReads, "{document}", "Firestore documents read, as billed (cost).", &FirestoreReads)
	cost(NameFirestoreWrites, "{document}", "Firestore documents written, as billed (cost).", &FirestoreWrites)
	_, err = m.Int64ObservableUpDownCounter(NameLongPolls, metric.WithUnit("{request}"),
		metric.WithDescription("Long-polls order-service holds now."),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			if LongPollLimit.Load() > 0 {
				o.Observe(LongPolls.Load())
			}
			return nil
		}))
	errs = append(errs, err)
	_, err = m.Int64ObservableGauge(NameLongPollLimit, metric.WithUnit("{request}"),
		metric.WithDescription("Long-polls one order-service instance holds at most (LONG_POLL_MAX)."),
		metric.WithInt64Callback(gauge(LongPollLimit.Load)))
	errs = append(errs, err)
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return &i, nil
}

// on returns the instruments, nil when metrics are off or paused.
func on() *instruments {
	if paused.Load() {
		return nil
	}
	return active.Load()
}

var paused atomic.Bool

// Pause stops recording (true) or starts it again, without touching the
// exporter: the debug switch `make bench` uses to measure what recording
// costs on one running stack. The cost counters (Publishes, ...) go on.
func Pause(p bool) { paused.Store(p) }

// SagaEnded counts an order that became terminal: outcome is its status
// (completed, failed, cancelled), reason why it failed ("" when
// completed).
func SagaEnded(ctx context.Context, outcome, reason string) {
	if i := on(); i != nil {
		i.sagaEnded(ctx, outcome, reason)
	}
}

func (i *instruments) sagaEnded(ctx context.Context, outcome, reason string) {
	attrs := []attribute.KeyValue{attribute.String("outcome", known(outcome, "completed", "failed", "cancelled"))}
	if reason != "" {
		attrs = append(attrs, attribute.String("reason", known(reason, saga.ReasonInsufficientPoints, saga.ReasonUnknownAccount,
			saga.ReasonSoldOut, saga.ReasonUnknownTicket, saga.ReasonPriceMismatch, saga.ReasonTimeout)))
	}
	i.ended.Add(ctx, 1, metric.WithAttributes(attrs...))
}

// TimeSteps returns service's steps, each timed into the step duration
// histogram when metrics are on.
func TimeSteps(service string, steps map[string]event.Step) map[string]event.Step {
	out := make(map[string]event.Step, len(steps))
	for name, step := range steps {
		ok, failed := stepAttrs(service, name, "ok"), stepAttrs(service, name, "error")
		out[name] = func(ctx context.Context, t saga.EventType, in event.Envelope) (event.Message, error) {
			i := on()
			if i == nil {
				return step(ctx, t, in)
			}
			start := time.Now()
			m, err := step(ctx, t, in)
			attrs := ok
			if err != nil {
				attrs = failed
			}
			i.stepDuration.Record(ctx, time.Since(start).Seconds(), attrs)
			return m, err
		}
	}
	return out
}

// StepDone records one run of service's step that took d and ended with
// err: for a step that runs outside the push endpoint (order-service's
// start).
func StepDone(ctx context.Context, service, step string, d time.Duration, err error) {
	if i := on(); i != nil {
		outcome := "ok"
		if err != nil {
			outcome = "error"
		}
		i.stepDuration.Record(ctx, d.Seconds(), stepAttrs(service, step, outcome))
	}
}

func stepAttrs(service, step, outcome string) metric.MeasurementOption {
	return metric.WithAttributeSet(attribute.NewSet(attribute.String("service", service), attribute.String("step", step),
		attribute.String("outcome", outcome)))
}

// PublishFailed counts a saga event of eventType, sent by service, whose
// publish failed.
func PublishFailed(ctx context.Context, service string, eventType saga.EventType) {
	if i := on(); i != nil {
		i.publishFailures.Add(ctx, 1, metric.WithAttributes(attribute.String("service", service), attribute.String("event_type", eventName(eventType))))
	}
}

// PushFailed counts a push delivery of eventType answered 5xx on its
// attempt-th attempt (0: unknown); on the last attempt it is a dead letter
// too.
func PushFailed(ctx context.Context, eventType saga.EventType, attempt int) {
	if i := on(); i != nil {
		t := attribute.String("event_type", eventName(eventType))
		i.pushFailures.Add(ctx, 1, metric.WithAttributes(t))
		if attempt >= DeadLetterAttempts {
			i.deadLetters.Add(ctx, 1, metric.WithAttributes(t, attribute.String("kind", "dead_letter")))
		}
	}
}

// Poisoned counts a push acked because it can never succeed.
func Poisoned(ctx context.Context, eventType saga.EventType) {
	if i := on(); i != nil {
		i.deadLetters.Add(ctx, 1, metric.WithAttributes(attribute.String("event_type", eventName(eventType)), attribute.String("kind", "poison")))
	}
}

// Sweep is what one timeout sweep did to orders.
type Sweep struct{ TimedOut, Replayed, GaveUp, Failed int }

// Swept counts what a timeout sweep did.
func Swept(ctx context.Context, s Sweep) {
	if i := on(); i != nil {
		for result, n := range map[string]int{"timed_out": s.TimedOut, "replayed": s.Replayed, "gave_up": s.GaveUp, "failed": s.Failed} {
			if n > 0 {
				i.swept.Add(ctx, int64(n), metric.WithAttributes(attribute.String("result", result)))
			}
		}
	}
}

// Reconciliation is what one reconciliation run found.
type Reconciliation struct {
	Failed                               bool
	Inconsistent, Unfinished, Unreadable int
	Repaired                             int
}

// Reconciled counts a reconciliation run and, when it finished, its
// findings (a failed run's are counted when the next run resumes it and
// finishes).
func Reconciled(ctx context.Context, r Reconciliation) {
	i := on()
	if i == nil {
		return
	}
	if r.Failed {
		i.runs.Add(ctx, 1, metric.WithAttributes(attribute.String("result", "failed")))
		return
	}
	i.runs.Add(ctx, 1, metric.WithAttributes(attribute.String("result", "done")))
	for kind, n := range map[string]int{"inconsistent": r.Inconsistent, "unfinished": r.Unfinished, "unreadable": r.Unreadable} {
		if n > 0 {
			i.findings.Add(ctx, int64(n), metric.WithAttributes(attribute.String("kind", kind)))
		}
	}
	if r.Repaired > 0 {
		i.repairs.Add(ctx, int64(r.Repaired))
	}
}

// eventName is t as a label: a known event type, or "unknown", so that a
// hostile push cannot make up label values.
func eventName(t saga.EventType) string {
	if t.Valid() {
		return string(t)
	}
	return "unknown"
}

// known is v when it is one of vs, else "other".
func known(v string, vs ...string) string {
	if slices.Contains(vs, v) {
		return v
	}
	return "other"
}
