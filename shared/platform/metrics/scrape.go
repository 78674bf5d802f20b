package metrics

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Prometheus names of the cost counters and the long-poll gauge, as the
// exporter writes NamePublishes and the others.
const (
	PromPublishes       = "saga_pubsub_publishes_total"
	PromFirestoreReads  = "saga_firestore_reads_total"
	PromFirestoreWrites = "saga_firestore_writes_total"
	PromLongPolls       = "saga_long_polls" // order-service's gauge (its ordermetrics)
)

// Families parses Prometheus text, as GET /metrics serves it.
func Families(r io.Reader) (map[string]*dto.MetricFamily, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("parse metrics: %w", err)
	}
	return fams, nil
}

// Sum is the sum of a counter's or gauge's samples over all their labels
// (0 when absent), or of a histogram's counts.
func Sum(fams map[string]*dto.MetricFamily, name string) float64 {
	f := fams[name]
	if f == nil {
		return 0
	}
	var sum float64
	for _, m := range f.GetMetric() {
		switch {
		case m.Counter != nil:
			sum += m.GetCounter().GetValue()
		case m.Gauge != nil:
			sum += m.GetGauge().GetValue()
		case m.Untyped != nil:
			sum += m.GetUntyped().GetValue()
		case m.Histogram != nil:
			sum += float64(m.GetHistogram().GetSampleCount())
		}
	}
	return sum
}

// Scrape reads the cost counters and the long-poll gauge from Prometheus
// text: what `make bench` divides by the sagas it ran.
func Scrape(r io.Reader) (Snapshot, error) {
	fams, err := Families(r)
	if err != nil {
		return Snapshot{}, err
	}
	return snapshotOf(fams), nil
}

func snapshotOf(fams map[string]*dto.MetricFamily) Snapshot {
	n := func(name string) int64 { return int64(math.Round(Sum(fams, name))) }
	return Snapshot{Publishes: n(PromPublishes), FirestoreReads: n(PromFirestoreReads), FirestoreWrites: n(PromFirestoreWrites),
		LongPolls: n(PromLongPolls)}
}

// Get scrapes base's GET /metrics (a service's URL) into its families.
func Get(ctx context.Context, base string) (map[string]*dto.MetricFamily, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s/metrics: %s", base, res.Status)
	}
	return Families(res.Body)
}

// GetSnapshot scrapes base's GET /metrics into a Snapshot.
func GetSnapshot(ctx context.Context, base string) (Snapshot, error) {
	fams, err := Get(ctx, base)
	if err != nil {
		return Snapshot{}, err
	}
	return snapshotOf(fams), nil
}
