// Package telemetry traces a saga across the three services with
// OpenTelemetry: one trace per order, from POST /orders through every
// Pub/Sub hop to the settle. Tracing is off unless TRACE_EXPORTER is set;
// then every span helper here returns at once without touching the
// context, so a service that does not trace pays for an atomic load.
//
// The trace context crosses Pub/Sub in the message attributes, under the
// Pub/Sub client library's own "googclient_" carrier, and is stored with
// each event in the outbox, so a publish made later by a sweep still joins
// the trace of the step that caused it.
package telemetry

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"
)

// Config is a service's tracing configuration, read by its main.
type Config struct {
	Service string
	Project string
	// Exporter is TRACE_EXPORTER: "" (off), "stdout", "file:<path>" or
	// "otlp" (Google Cloud's Telemetry API).
	Exporter string
	// SampleRatio is TRACE_SAMPLE_RATIO: the share of new traces kept. A
	// span with a parent follows its parent's decision, so a saga is kept
	// or dropped whole.
	SampleRatio float64
	// Endpoint is the OTLP/HTTP endpoint of "otlp" (TRACE_ENDPOINT),
	// default DefaultEndpoint.
	Endpoint string
}

// DefaultEndpoint is Google Cloud's OTLP endpoint (the Telemetry API); the
// exporter posts to its /v1/traces.
const DefaultEndpoint = "https://telemetry.googleapis.com"

// traceScope is the scope of every span this repository starts.
const traceScope = "github.com/ticketsaga/saga"

var enabled, paused atomic.Bool

// Enabled reports whether spans are recorded at all.
func Enabled() bool { return enabled.Load() && !paused.Load() }

// Pause stops making spans (true) or starts again, keeping the provider:
// the debug switch `make bench` uses to measure what tracing costs on one
// running stack.
func Pause(p bool) { paused.Store(p) }

// CheckExporter says whether v is a TRACE_EXPORTER value Setup accepts.
func CheckExporter(v string) error {
	switch {
	case v == "", v == "stdout", v == "otlp", strings.HasPrefix(v, "file:") && len(v) > len("file:"):
		return nil
	}
	return fmt.Errorf("TRACE_EXPORTER=%q: want stdout, file:<path> or otlp (unset: off)", v)
}

// Setup installs the tracer provider c asks for, with the W3C tracecontext
// propagator, for this package's spans only: the client libraries trace
// through OpenTelemetry's global provider, which stays a no-op, so their
// per-call spans (a dozen per saga) cost nothing and do not crowd the
// saga's trace. Off, it installs nothing. shutdown flushes the spans still
// buffered: call it on exit.
func Setup(ctx context.Context, c Config) (shutdown func(context.Context) error, err error) {
	if err := CheckExporter(c.Exporter); err != nil {
		return nil, err
	}
	if c.Exporter == "" {
		return func(context.Context) error { return nil }, nil
	}
	var (
		exp    sdktrace.SpanExporter
		closer io.Closer
	)
	switch {
	case c.Exporter == "stdout":
		exp, err = stdouttrace.New(stdouttrace.WithWriter(os.Stdout))
	case strings.HasPrefix(c.Exporter, "file:"):
		// One JSON span a line, appended: the three services of `make
		// run` may share the file.
		var f *os.File
		if f, err = os.OpenFile(strings.TrimPrefix(c.Exporter, "file:"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err != nil {
			return nil, fmt.Errorf("TRACE_EXPORTER=%s: %w", c.Exporter, err)
		}
		closer = f
		exp, err = stdouttrace.New(stdouttrace.WithWriter(f))
	default:
		exp, err = googleExporter(ctx, c)
	}
	if err != nil {
		return nil, fmt.Errorf("trace exporter %s: %w", c.Exporter, err)
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(
		attribute.String("service.name", c.Service),
		// The Telemetry API files spans under this project.
		attribute.String("gcp.project_id", c.Project)))
	if err != nil {
		return nil, fmt.Errorf("trace resource: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(c.SampleRatio))))
	Use(tp)
	return func(ctx context.Context) error {
		err := tp.Shutdown(ctx)
		if closer != nil {
			closer.Close()
		}
		return err
	}, nil
}

// googleExporter posts OTLP/HTTP to Google Cloud's Telemetry API with
// Application Default Credentials (the service account on Cloud Run), the
// project as quota project; or, when Endpoint names another host (an
// OpenTelemetry Collector beside the service, the bench's sink), to it as
// is: Google credentials go only to *.googleapis.com. The deprecated Cloud
// Trace exporter is not used: the Telemetry API takes OTLP as it is.
func googleExporter(ctx context.Context, c Config) (sdktrace.SpanExporter, error) {
	endpoint := strings.TrimSuffix(cmp.Or(c.Endpoint, DefaultEndpoint), "/")
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("OTLP endpoint %q: want an http(s) URL", endpoint)
	}
	opts := []otlptracehttp.Option{otlptracehttp.WithEndpointURL(endpoint + "/v1/traces")}
	if strings.HasSuffix(u.Hostname(), ".googleapis.com") {
		// Tokens are refreshed long after ctx (cancelled on SIGTERM) ends:
		// the last flush happens then.
		ts, err := google.DefaultTokenSource(context.WithoutCancel(ctx), "https://www.googleapis.com/auth/trace.append")
		if err != nil {
			return nil, fmt.Errorf("application default credentials: %w", err)
		}
		// The client outlives ctx: it refreshes tokens for every export.
		opts = append(opts, otlptracehttp.WithHTTPClient(oauth2.NewClient(context.Background(), ts)),
			otlptracehttp.WithHeaders(map[string]string{"x-goog-user-project": c.Project}))
	}
	return otlptracehttp.New(ctx, opts...)
}

// Use makes tp the tracer provider of this package's spans and turns the
// span helpers on: what Setup does, and what a test does with an in-memory
// recorder. nil turns tracing off again.
func Use(tp trace.TracerProvider) {
	if tp == nil {
		enabled.Store(false)
		current.Store(nil)
		return
	}
	current.Store(&provider{tp: tp, tracer: tp.Tracer(traceScope)})
	enabled.Store(true)
}

// provider is the tracer provider in use, with this package's tracer.
type provider struct {
	tp     trace.TracerProvider
	tracer trace.Tracer
}

var current atomic.Pointer[provider]

func tracerProvider() trace.TracerProvider {
	if p := current.Load(); p != nil {
		return p.tp
	}
	return noop.NewTracerProvider()
}

func tracer() trace.Tracer {
	if p := current.Load(); p != nil {
		return p.tracer
	}
	return noop.NewTracerProvider().Tracer(traceScope)
}

// Start starts a span named name as a child of ctx's span; off, it returns
// ctx and a span that does nothing.
func Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	if !Enabled() {
		return ctx, noop.Span{}
	}
	return tracer().Start(ctx, name, opts...)
}

// End ends span, marking it failed with err when there is one.
func End(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// Region is a span as a pair: the context inside it, and its end.
func Region(ctx context.Context, name string, kv ...attribute.KeyValue) (context.Context, func()) {
	ctx, span := Start(ctx, name, trace.WithAttributes(kv...))
	return ctx, func() { span.End() }
}

// TraceID is the trace id of ctx's span when it is sampled (exported), ""
// otherwise: an id nobody can look up is not worth storing.
func TraceID(ctx context.Context) string {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() && sc.IsSampled() {
		return sc.TraceID().String()
	}
	return ""
}
