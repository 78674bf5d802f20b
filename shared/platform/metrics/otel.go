package metrics

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"cloud.google.com/go/compute/metadata"
	"github.com/google/uuid"
	prom "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	"golang.org/x/oauth2/google"

	"github.com/ticketsaga/saga/shared/platform/telemetry"
)

// Exporters: where a service's metrics go (METRICS_EXPORTER).
const (
	// Prometheus serves them as Prometheus text at GET /metrics, behind
	// the task endpoints' check: the default, what `make bench` and a
	// scraper read.
	Prometheus = "prometheus"
	// OTLP sends them over OTLP/HTTP to Endpoint every Interval, and once
	// more on shutdown; GET /metrics answers 404.
	OTLP = "otlp"
	// None turns them off: no instrument records anything (the cost
	// counters above still count, as plain atomics), GET /metrics 404.
	None = "none"
)

// Exporters lists the valid values of METRICS_EXPORTER.
var Exporters = []string{Prometheus, OTLP, None}

// DefaultEndpoint is Google Cloud's Telemetry (OTLP) API: metrics are
// posted to its /v1/metrics and land in Cloud Monitoring as Managed
// Service for Prometheus metrics (monitored resource prometheus_target).
const DefaultEndpoint = telemetry.DefaultEndpoint

// monitoringWrite is the OAuth scope the Telemetry API takes for metrics.
const monitoringWrite = "https://www.googleapis.com/auth/monitoring.write"

// Config is how a service exports its metrics, from its configuration.
type Config struct {
	Exporter  string // Prometheus (when empty), OTLP or None
	Service   string // service.name
	ProjectID string // gcp.project_id, for OTLP
	// OnCloud: running on Cloud Run, where the region (the location Cloud
	// Monitoring stores the points in) comes from the metadata server.
	OnCloud bool
	// Endpoint is the OTLP/HTTP base URL (DefaultEndpoint when empty);
	// Google credentials are sent only to *.googleapis.com, so a local
	// collector or a Cloud Run sidecar needs none.
	Endpoint string
	// Interval is how often OTLP exports (60s when zero).
	Interval time.Duration
}

// The process's metrics: one meter provider, shared by the services wired
// in one process (the end-to-end tests run three), started by the first
// and shut down by the last.
var (
	mu       sync.Mutex
	refs     int
	shutdown func(context.Context) error
	active   atomic.Pointer[instruments]
	scrape   atomic.Pointer[http.Handler]
)

// Start turns the process's metrics on as cfg says, and returns what turns
// them off again, flushing what OTLP has not sent yet. A second Start in
// the same process shares the first one's exporter.
func Start(ctx context.Context, cfg Config) (stop func(), err error) {
	if cfg.Exporter == None {
		return func() {}, nil
	}
	mu.Lock()
	defer mu.Unlock()
	if refs == 0 {
		if err := start(ctx, cfg); err != nil {
			return nil, err
		}
	}
	refs++
	var once sync.Once
	return func() { once.Do(release) }, nil
}

func release() {
	mu.Lock()
	defer mu.Unlock()
	if refs--; refs > 0 {
		return
	}
	active.Store(nil)
	dropDeclared()
	scrape.Store(nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = shutdown(ctx) // a last export that fails is lost: nothing to retry on the way out
}

func start(ctx context.Context, cfg Config) error {
	res, err := newResource(ctx, cfg)
	if err != nil {
		return err
	}
	var reader sdkmetric.Reader
	switch cfg.Exporter {
	case "", Prometheus:
		reg := prom.NewRegistry()
		exp, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithoutScopeInfo())
		if err != nil {
			return fmt.Errorf("metrics: prometheus exporter: %w", err)
		}
		h := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
		scrape.Store(&h)
		reader = exp
	case OTLP:
		exp, err := newOTLP(ctx, cfg)
		if err != nil {
			return err
		}
		interval := cfg.Interval
		if interval <= 0 {
			interval = time.Minute
		}
		reader = sdkmetric.NewPeriodicReader(exp, sdkmetric.WithInterval(interval))
	default:
		return fmt.Errorf("metrics: unknown exporter %q: want one of %s", cfg.Exporter, strings.Join(Exporters, ", "))
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader), sdkmetric.WithResource(res))
	meter := mp.Meter("github.com/ticketsaga/saga")
	i, err := newInstruments(meter)
	if err == nil {
		err = createDeclared(meter)
	}
	if err != nil {
		dropDeclared()
		_ = mp.Shutdown(ctx)
		scrape.Store(nil)
		return err
	}
	active.Store(i)
	shutdown = mp.Shutdown
	return nil
}

// newOTLP is the OTLP/HTTP exporter of cfg: to Google's Telemetry API with
// the service's own credentials (Application Default Credentials: on Cloud
// Run, its service account, which needs roles/telemetry.metricsWriter and
// roles/serviceusage.serviceUsageConsumer), or to another endpoint as is.
func newOTLP(ctx context.Context, cfg Config) (sdkmetric.Exporter, error) {
	endpoint := cfg.Endpoint
	if endpoint == "" {
		endpoint = DefaultEndpoint
	}
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("metrics: OTLP endpoint %q: want an http(s) URL", endpoint)
	}
	opts := []otlpmetrichttp.Option{otlpmetrichttp.WithEndpointURL(strings.TrimSuffix(endpoint, "/") + "/v1/metrics")}
	if strings.HasSuffix(u.Hostname(), ".googleapis.com") {
		// The client refreshes its token long after ctx (the service's
		// life, cancelled on SIGTERM) ended: the last export happens then.
		c, err := google.DefaultClient(context.WithoutCancel(ctx), monitoringWrite)
		if err != nil {
			return nil, fmt.Errorf("metrics: credentials for %s: %w", u.Host, err)
		}
		// The project pays for the calls (the quota project), as for the
		// traces.
		opts = append(opts, otlpmetrichttp.WithHTTPClient(c), otlpmetrichttp.WithHeaders(map[string]string{"x-goog-user-project": cfg.ProjectID}))
	}
	exp, err := otlpmetrichttp.New(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("metrics: OTLP exporter: %w", err)
	}
	return exp, nil
}

// newResource describes the process. Cloud Monitoring maps service.name
// to the job label and service.instance.id to instance, so that instances
// never write the same series, and needs a location: on Cloud Run, its
// region.
func newResource(ctx context.Context, cfg Config) (*resource.Resource, error) {
	attrs := []attribute.KeyValue{attribute.String("service.name", cfg.Service), attribute.String("service.instance.id", uuid.NewString())}
	if cfg.Exporter == OTLP {
		attrs = append(attrs, attribute.String("gcp.project_id", cfg.ProjectID))
		if cfg.OnCloud {
			attrs = append(attrs, attribute.String("cloud.provider", "gcp"), attribute.String("cloud.platform", "gcp_cloud_run"))
			rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			// "projects/<number>/regions/<region>"
			region, err := metadata.GetWithContext(rctx, "instance/region")
			if err != nil {
				return nil, fmt.Errorf("metrics: the region from the metadata server: %w", err)
			}
			attrs = append(attrs, attribute.String("cloud.region", region[strings.LastIndexByte(region, '/')+1:]))
		}
	}
	return resource.NewSchemaless(attrs...), nil
}

// Handler serves the metrics as Prometheus text when they are exported so
// (the default), and 404 otherwise.
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := scrape.Load()
		if h == nil {
			http.Error(w, "metrics are not served here (METRICS_EXPORTER is otlp or none)", http.StatusNotFound)
			return
		}
		(*h).ServeHTTP(w, r)
	})
}
