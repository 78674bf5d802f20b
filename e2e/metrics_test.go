package e2e

import (
	"context"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/ticketsaga/saga/shared/platform/metrics"
)

// TestMetricsMove: a completed and a failed saga move the counters and the
// step latency histograms an operator alerts on, as GET /metrics serves
// them in Prometheus text. The services of the stack share this process's
// metrics, so order-service's /metrics shows every service's steps.
func TestMetricsMove(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	before, err := metrics.Get(ctx, stack.order)
	if err != nil {
		t.Fatal(err)
	}
	user, poor, ticket := uniq("metrics-buyer"), uniq("metrics-poor"), uniq("metrics-show")
	stack.seedAccount(t, user, 5000)
	stack.seedAccount(t, poor, 10)
	stack.seedTicket(t, ticket, 1000, 5)
	if got := ended(t, user, stack.buy(t, user, "", order(user, ticket, 2, 2000))); got != "completed" {
		t.Fatalf("order %s, want completed", got)
	}
	if got := ended(t, poor, stack.buy(t, poor, "", order(poor, ticket, 1, 1000))); got != "failed" {
		t.Fatalf("order %s, want failed", got)
	}

	after, err := metrics.Get(ctx, stack.order)
	if err != nil {
		t.Fatal(err)
	}
	moved := func(name string, labels map[string]string) float64 {
		return sample(after, name, labels) - sample(before, name, labels)
	}
	for _, c := range []struct {
		name   string
		labels map[string]string
	}{
		{"saga_orders_ended_total", map[string]string{"outcome": "completed"}},
		{"saga_orders_ended_total", map[string]string{"outcome": "failed", "reason": "insufficient_points"}},
		// Every step of the completed saga, in every service, once at least.
		{"saga_step_duration_seconds", map[string]string{"service": "order-service", "step": "start", "outcome": "ok"}},
		{"saga_step_duration_seconds", map[string]string{"service": "point-service", "step": "consume", "outcome": "ok"}},
		{"saga_step_duration_seconds", map[string]string{"service": "ticket-service", "step": "grant", "outcome": "ok"}},
		{"saga_step_duration_seconds", map[string]string{"service": "order-service", "step": "settle", "outcome": "ok"}},
		// Two sagas: 3 publishes for the one, 2 for the other.
		{metrics.PromPublishes, nil},
	} {
		if d := moved(c.name, c.labels); d < 1 {
			t.Errorf("%s%v moved by %g, want at least 1", c.name, c.labels, d)
		}
	}
	if d := moved(metrics.PromPublishes, nil); d < 5 {
		t.Errorf("%s moved by %g, want at least 5 (3 + 2 events)", metrics.PromPublishes, d)
	}
	// The histogram has its bounds: a latency alert needs them.
	if f := after["saga_step_duration_seconds"]; f == nil || len(f.GetMetric()) == 0 || len(f.GetMetric()[0].GetHistogram().GetBucket()) < 10 {
		t.Errorf("saga_step_duration_seconds has no buckets: %v", f)
	}
}

// ended follows user's order r until it ends, and returns its status: the
// long-polls of a busy stack (the whole suite runs at once) may all be
// taken, and POST /orders then answers 202 at once, pending.
func ended(t *testing.T, user string, r resp) string {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	id := r.str("order_id")
	for r.str("status") == "pending" && time.Now().Before(deadline) {
		if r.Header.Get("Retry-After") != "" {
			time.Sleep(time.Second) // as Retry-After asks
		}
		r = stack.orderOf(t, user, "/orders/"+id+"?wait=30s")
	}
	return r.str("status")
}

// sample sums the samples of metric name whose labels include labels: a
// counter's value, or a histogram's count.
func sample(fams map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	var sum float64
	for _, m := range fams[name].GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		match := true
		for k, v := range labels {
			match = match && have[k] == v
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			sum += m.GetCounter().GetValue()
		case m.Histogram != nil:
			sum += float64(m.GetHistogram().GetSampleCount())
		}
	}
	return sum
}
