package metrics

import (
	"context"
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
// These are every service's; a service declares its own (NewCounter,
// NewGauge).
const (
	NameStepDuration    = "saga.step.duration"    // histogram, s; service, step, outcome
	NamePublishFailures = "saga.publish.failures" // counter; service, event_type
	NamePushFailures    = "saga.push.failures"    // counter; event_type
	NameDeadLetters     = "saga.dead_letters"     // counter; event_type, kind
	NamePublishes       = "saga.pubsub.publishes" // counter (cost)
	NameFirestoreReads  = "saga.firestore.reads"  // counter (cost)
	NameFirestoreWrites = "saga.firestore.writes" // counter (cost)
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
	publishFailures, pushFailures, deadLetters metric.Int64Counter
	stepDuration                               metric.Float64Histogram
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
	counter(&i.publishFailures, NamePublishFailures, "{message}", "Saga events whose publish to Pub/Sub failed (the step answers 5xx and is redelivered; the order's replay sends it if no redelivery comes).")
	counter(&i.pushFailures, NamePushFailures, "{delivery}", "Push deliveries answered 5xx: Pub/Sub retries them, then dead-letters them.")
	counter(&i.deadLetters, NameDeadLetters, "{delivery}", "Deliveries given up: failed on their last attempt (kind dead_letter) or acked as poison (kind poison).")
	h, err := m.Float64Histogram(NameStepDuration, metric.WithUnit("s"), metric.WithExplicitBucketBoundaries(stepBuckets...),
		metric.WithDescription("Duration of one saga step: its Firestore transaction and the publish of its event."))
	errs = append(errs, err)
	i.stepDuration = h

	cost := func(name, unit, desc string, v interface{ Load() int64 }) {
		_, err := m.Int64ObservableCounter(name, metric.WithUnit(unit), metric.WithDescription(desc),
			metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error { o.Observe(v.Load()); return nil }))
		errs = append(errs, err)
	}
	cost(NamePublishes, "{message}", "Pub/Sub publishes (cost).", &Publishes)
	cost(NameFirestoreReads, "{document}", "Firestore documents read, as billed (cost).", &FirestoreReads)
	cost(NameFirestoreWrites, "{document}", "Firestore documents written, as billed (cost).", &FirestoreWrites)
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

// eventName is t as a label: a known event type, or "unknown", so that a
// hostile push cannot make up label values.
func eventName(t saga.EventType) string {
	if t.Valid() {
		return string(t)
	}
	return "unknown"
}
