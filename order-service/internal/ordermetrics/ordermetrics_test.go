package ordermetrics

import (
	"context"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"

	"github.com/ticketsaga/saga/shared/platform/metrics"
	"github.com/ticketsaga/saga/shared/saga"
)

// scrape turns metrics on (the Prometheus exporter, as the services run by
// default) for fn, then reads GET /metrics back as the bench and an
// operator's scraper would.
func scrape(t *testing.T, fn func(ctx context.Context)) map[string]*dto.MetricFamily {
	t.Helper()
	stop, err := metrics.Start(context.Background(), metrics.Config{Exporter: metrics.Prometheus, Service: saga.OrderService})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	fn(context.Background())
	srv := httptest.NewServer(metrics.Handler())
	defer srv.Close()
	res, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	text, _ := io.ReadAll(res.Body)
	fams, err := metrics.Families(strings.NewReader(string(text)))
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

// points is a family's values by their labels (k=v,k=v, sorted).
func points(fams map[string]*dto.MetricFamily, name string) map[string]float64 {
	out := map[string]float64{}
	f := fams[name]
	if f == nil {
		return out
	}
	for _, m := range f.GetMetric() {
		var ls []string
		for _, l := range m.GetLabel() {
			if l.GetName() != "otel_scope_name" && l.GetName() != "otel_scope_version" {
				ls = append(ls, l.GetName()+"="+l.GetValue())
			}
		}
		sort.Strings(ls)
		v := m.GetCounter().GetValue()
		if m.Gauge != nil {
			v = m.GetGauge().GetValue()
		}
		out[strings.Join(ls, ",")] = v
	}
	return out
}

func equal(t *testing.T, name string, got, want map[string]float64) {
	t.Helper()
	if !maps.Equal(got, want) {
		t.Errorf("%s = %v, want %v", name, got, want)
	}
}

// Not parallel: metrics are the process's.

func TestSagasEnded(t *testing.T) {
	fams := scrape(t, func(ctx context.Context) {
		SagaEnded(ctx, "completed", "")
		SagaEnded(ctx, "completed", "")
		SagaEnded(ctx, "cancelled", saga.ReasonTimeout)
		SagaEnded(ctx, "failed", saga.ReasonSoldOut)
		SagaEnded(ctx, "failed", "made-up") // a label value is never made up
	})
	equal(t, NameSagasEnded, points(fams, "saga_orders_ended_total"), map[string]float64{
		"outcome=completed": 2, "outcome=cancelled,reason=timeout": 1, "outcome=failed,reason=sold_out": 1,
		"outcome=failed,reason=other": 1})
}

func TestSweepsAndReconciliation(t *testing.T) {
	fams := scrape(t, func(ctx context.Context) {
		Swept(ctx, Sweep{TimedOut: 3, Replayed: 2})
		Swept(ctx, Sweep{TimedOut: 1, GaveUp: 1, Failed: 4})
		Reconciled(ctx, Reconciliation{Inconsistent: 2, Unfinished: 1, Repaired: 2})
		Reconciled(ctx, Reconciliation{Failed: true, Inconsistent: 7}) // counted when it finishes
		Reconciled(ctx, Reconciliation{})
	})
	equal(t, NameSweptOrders, points(fams, "saga_sweep_orders_total"), map[string]float64{
		"result=timed_out": 4, "result=replayed": 2, "result=gave_up": 1, "result=failed": 4})
	equal(t, NameReconcileRuns, points(fams, "saga_reconcile_runs_total"), map[string]float64{"result=done": 2, "result=failed": 1})
	equal(t, NameFindings, points(fams, "saga_reconcile_findings_total"), map[string]float64{"kind=inconsistent": 2, "kind=unfinished": 1})
	equal(t, NameRepairs, points(fams, "saga_reconcile_repairs_total"), map[string]float64{"": 2})
}

func TestLongPollGauges(t *testing.T) {
	t.Cleanup(func() { LongPolls.Store(0); LongPollLimit.Store(0) })
	LongPolls.Store(7)
	// Without a limit the service holds no long-polls: nothing exported.
	fams := scrape(t, func(context.Context) {})
	equal(t, NameLongPolls, points(fams, "saga_long_polls"), map[string]float64{})
	LongPollLimit.Store(2000)
	fams = scrape(t, func(context.Context) {})
	equal(t, NameLongPolls, points(fams, "saga_long_polls"), map[string]float64{"": 7})
	equal(t, NameLongPollLimit, points(fams, "saga_long_polls_limit"), map[string]float64{"": 2000})
}
