package metrics

// The instruments are the process's (a global), so these tests do not run
// in parallel.

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/ticketsaga/saga/shared/event"
	"github.com/ticketsaga/saga/shared/saga"
)

// A service's own instruments, as a service declares them (order-service's
// are in its ordermetrics): created when metrics start, recording only
// then.
var (
	declaredThings = NewCounter("saga.test.things", "{thing}", "Things a test counts.")
	declaredLevel  atomic.Int64
)

func init() {
	NewGauge("saga.test.level", "{thing}", "A level a test sets.", func() (int64, bool) { return declaredLevel.Load(), true })
}

// withReader turns the instruments on for one test, read by the reader it
// returns.
func withReader(t *testing.T) *sdkmetric.ManualReader {
	t.Helper()
	r := sdkmetric.NewManualReader()
	i, err := newInstruments(sdkmetric.NewMeterProvider(sdkmetric.WithReader(r)).Meter("test"))
	if err != nil {
		t.Fatal(err)
	}
	active.Store(i)
	t.Cleanup(func() { active.Store(nil) })
	return r
}

func collect(t *testing.T, r *sdkmetric.ManualReader) map[string]metricdata.Aggregation {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]metricdata.Aggregation{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			out[m.Name] = m.Data
		}
	}
	return out
}

// labels writes an attribute set as k=v,k=v, sorted.
func labels(s attribute.Set) string {
	var parts []string
	for _, kv := range s.ToSlice() {
		parts = append(parts, string(kv.Key)+"="+kv.Value.String())
	}
	return strings.Join(parts, ",")
}

// counts is a counter's (or up-down counter's, or gauge's) points by labels.
func counts(t *testing.T, data map[string]metricdata.Aggregation, name string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	switch d := data[name].(type) {
	case metricdata.Sum[int64]:
		for _, p := range d.DataPoints {
			out[labels(p.Attributes)] = p.Value
		}
	case metricdata.Gauge[int64]:
		for _, p := range d.DataPoints {
			out[labels(p.Attributes)] = p.Value
		}
	case nil:
	default:
		t.Fatalf("%s is a %T", name, d)
	}
	return out
}

func equal(t *testing.T, name string, got, want map[string]int64) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s = %v, want %v", name, got, want)
		return
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", name, got, want)
			return
		}
	}
}

func TestStepDuration(t *testing.T) {
	r := withReader(t)
	boom := errors.New("firestore unavailable")
	steps := TimeSteps(saga.PointService, map[string]event.Step{
		"consume": func(context.Context, saga.EventType, event.Envelope) (event.Message, error) {
			time.Sleep(20 * time.Millisecond) // the step's work, to be measured
			return event.Message{EventID: "e1"}, nil
		},
		"refund": func(context.Context, saga.EventType, event.Envelope) (event.Message, error) {
			return event.Message{}, boom
		},
	})
	ctx := context.Background()
	if m, err := steps["consume"](ctx, saga.StartedOrder, event.Envelope{}); err != nil || m.EventID != "e1" {
		t.Fatalf("consume = %v, %v: the wrapper must pass the step's result through", m, err)
	}
	if _, err := steps["refund"](ctx, saga.FailedTicket, event.Envelope{}); !errors.Is(err, boom) {
		t.Fatalf("refund = %v, want %v", err, boom)
	}
	StepDone(ctx, saga.OrderService, "start", 3*time.Millisecond, nil)

	h, ok := collect(t, r)[NameStepDuration].(metricdata.Histogram[float64])
	if !ok {
		t.Fatalf("%s is not a histogram", NameStepDuration)
	}
	got := map[string]metricdata.HistogramDataPoint[float64]{}
	for _, p := range h.DataPoints {
		got[labels(p.Attributes)] = p
	}
	consume := got["outcome=ok,service=point-service,step=consume"]
	if consume.Count != 1 || consume.Sum < 0.02 || consume.Sum > 5 {
		t.Errorf("consume: count %d, sum %gs; want one run of at least 20ms", consume.Count, consume.Sum)
	}
	if got["outcome=error,service=point-service,step=refund"].Count != 1 || got["outcome=ok,service=order-service,step=start"].Count != 1 || len(got) != 3 {
		t.Errorf("points %v", got)
	}
	if len(consume.Bounds) != len(stepBuckets) {
		t.Errorf("bounds %v, want the step buckets %v", consume.Bounds, stepBuckets)
	}
}

func TestFailuresAndDeadLetters(t *testing.T) {
	r := withReader(t)
	ctx := context.Background()
	PublishFailed(ctx, saga.PointService, saga.ConsumedPoint)
	PushFailed(ctx, saga.StartedOrder, 0) // the emulator says no attempt
	PushFailed(ctx, saga.StartedOrder, DeadLetterAttempts-1)
	PushFailed(ctx, saga.StartedOrder, DeadLetterAttempts) // the last: dead-lettered
	Poisoned(ctx, saga.GrantedTicket)
	Poisoned(ctx, "no-such-type")
	data := collect(t, r)
	equal(t, NamePublishFailures, counts(t, data, NamePublishFailures), map[string]int64{"event_type=consumed-point,service=point-service": 1})
	equal(t, NamePushFailures, counts(t, data, NamePushFailures), map[string]int64{"event_type=started-order": 3})
	equal(t, NameDeadLetters, counts(t, data, NameDeadLetters), map[string]int64{
		"event_type=started-order,kind=dead_letter": 1, "event_type=granted-ticket,kind=poison": 1, "event_type=unknown,kind=poison": 1})
}

// TestOffCostsNothing: with metrics off, recording allocates nothing and a
// timed step is the step.
func TestOffCostsNothing(t *testing.T) {
	active.Store(nil)
	ctx := context.Background()
	steps := TimeSteps(saga.TicketService, map[string]event.Step{
		"grant": func(context.Context, saga.EventType, event.Envelope) (event.Message, error) {
			return event.Message{}, nil
		},
	})
	grant := steps["grant"]
	allocs := testing.AllocsPerRun(100, func() {
		declaredThings.Add(ctx, 1)
		_, _ = grant(ctx, saga.ConsumedPoint, event.Envelope{})
		PushFailed(ctx, saga.ConsumedPoint, 5)
		Poisoned(ctx, saga.ConsumedPoint)
		PublishFailed(ctx, saga.TicketService, saga.GrantedTicket)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per call with metrics off, want 0", allocs)
	}
}

// TestPrometheusScrape: the default exporter serves Prometheus text that
// Scrape (and so `make bench`) reads back, with the instruments' names as
// docs/operations.md gives them.
func TestPrometheusScrape(t *testing.T) {
	stop, err := Start(context.Background(), Config{Exporter: Prometheus, Service: saga.OrderService})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	// A second service in the same process shares the exporter.
	stop2, err := Start(context.Background(), Config{Service: saga.PointService})
	if err != nil {
		t.Fatal(err)
	}
	stop2()
	ctx := context.Background()
	before := Snapshot{Publishes: Publishes.Load(), FirestoreReads: FirestoreReads.Load(), FirestoreWrites: FirestoreWrites.Load()}
	Publishes.Add(3)
	FirestoreReads.Add(5)
	FirestoreWrites.Add(9)
	declaredThings.Add(ctx, 2, attribute.String("kind", "test"))
	declaredLevel.Store(7)
	StepDone(ctx, saga.OrderService, "start", 12*time.Millisecond, nil)

	srv := httptest.NewServer(Handler())
	defer srv.Close()
	text := get(t, srv.URL+"/metrics", http.StatusOK)
	snap, err := Scrape(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	if want := (Snapshot{Publishes: before.Publishes + 3, FirestoreReads: before.FirestoreReads + 5, FirestoreWrites: before.FirestoreWrites + 9}); snap != want {
		t.Errorf("scraped %+v, want %+v", snap, want)
	}
	for _, line := range []string{
		`saga_test_things_total{kind="test"} 2`,
		`saga_test_level 7`,
		`saga_step_duration_seconds_bucket{outcome="ok",service="order-service",step="start",le="0.025"} 1`,
		`saga_step_duration_seconds_count{outcome="ok",service="order-service",step="start"} 1`,
		`# TYPE saga_pubsub_publishes_total counter`,
	} {
		if !strings.Contains(text, line) {
			t.Errorf("GET /metrics lacks %s in:\n%s", line, text)
		}
	}
	fams, err := Families(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	if n := Sum(fams, "saga_step_duration_seconds"); n != 1 {
		t.Errorf("step duration count %g, want 1", n)
	}
	stop()
	get(t, srv.URL+"/metrics", http.StatusNotFound)
	if on() != nil {
		t.Error("instruments still on after the last stop")
	}
}

func get(t *testing.T, url string, want int) string {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != want {
		t.Fatalf("GET %s: %d, want %d: %s", url, res.StatusCode, want, b)
	}
	return string(b)
}

// TestOTLPExport: the OTLP exporter posts to <endpoint>/v1/metrics, and
// flushes on stop (a Cloud Run instance's SIGTERM); GET /metrics is off.
func TestOTLPExport(t *testing.T) {
	var (
		mu    sync.Mutex
		posts []string
	)
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		posts = append(posts, r.Method+" "+r.URL.Path+" "+r.Header.Get("Content-Type"))
		mu.Unlock()
		if len(b) == 0 {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer collector.Close()
	stop, err := Start(context.Background(), Config{Exporter: OTLP, Service: saga.OrderService, ProjectID: "demo-saga",
		Endpoint: collector.URL, Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	declaredThings.Add(context.Background(), 1)
	srv := httptest.NewServer(Handler())
	defer srv.Close()
	get(t, srv.URL+"/metrics", http.StatusNotFound)
	stop()
	mu.Lock()
	defer mu.Unlock()
	if len(posts) != 1 || posts[0] != "POST /v1/metrics application/x-protobuf" {
		t.Errorf("collector got %q, want one POST /v1/metrics of protobuf", posts)
	}
}

func TestStartRefusesBadConfig(t *testing.T) {
	for _, c := range []Config{{Exporter: "statsd"}, {Exporter: OTLP, Endpoint: "telemetry.googleapis.com"}} {
		if stop, err := Start(context.Background(), c); err == nil {
			stop()
			t.Errorf("%+v accepted", c)
		}
	}
	if stop, err := Start(context.Background(), Config{Exporter: None}); err != nil || on() != nil {
		t.Errorf("none: %v, instruments on: %v", err, on() != nil)
	} else {
		stop()
	}
}

// BenchmarkStep is what timing one step costs, metrics on and off: a saga
// runs five (start, consume, grant, settle; a failure's refund instead).
func BenchmarkStep(b *testing.B) {
	grant := TimeSteps(saga.TicketService, map[string]event.Step{
		"grant": func(context.Context, saga.EventType, event.Envelope) (event.Message, error) {
			return event.Message{}, nil
		},
	})["grant"]
	ctx := context.Background()
	b.Run("off", func(b *testing.B) {
		for b.Loop() {
			_, _ = grant(ctx, saga.ConsumedPoint, event.Envelope{})
		}
	})
	stop, err := Start(ctx, Config{Service: saga.TicketService})
	if err != nil {
		b.Fatal(err)
	}
	defer stop()
	b.Run("prometheus", func(b *testing.B) {
		for b.Loop() {
			_, _ = grant(ctx, saga.ConsumedPoint, event.Envelope{})
		}
	})
	b.Run("declared counter", func(b *testing.B) {
		for b.Loop() {
			declaredThings.Add(ctx, 1, attribute.String("kind", "bench"))
		}
	})
}
