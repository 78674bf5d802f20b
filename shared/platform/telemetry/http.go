package telemetry

import (
	"context"
	"net/http"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/embedded"
)

// HTTP traces the requests to h that traced accepts, each in a server span
// that continues the caller's traceparent; the span is named after the
// route once the mux has matched it. Off, requests go straight to h.
//
// Push requests are left out on purpose: their trace is the message's
// (see StartProcess), not the push request's.
func HTTP(h http.Handler, traced func(*http.Request) bool) http.Handler {
	return otelhttp.NewHandler(h, "",
		otelhttp.WithFilter(func(r *http.Request) bool { return Enabled() && traced(r) }),
		// The provider in use, looked up per request, so Use applies to
		// handlers built before it.
		otelhttp.WithTracerProvider(providerFunc{}),
		otelhttp.WithPropagators(tracecontext),
		// A caller's traceparent is linked, not followed: otherwise any
		// client (or Cloud Run's front end, with its own sampling) would
		// decide which sagas are traced and pick their trace ids.
		otelhttp.WithPublicEndpointFn(func(*http.Request) bool { return true }),
		// Traces only: HTTP metrics are the metrics package's business.
		otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()))
}

// providerFunc is the tracer provider in use at each span's start, not
// when the handler was built.
type providerFunc struct{ embedded.TracerProvider }

func (providerFunc) Tracer(name string, opts ...trace.TracerOption) trace.Tracer {
	return lazyTracer{name: name, opts: opts}
}

type lazyTracer struct {
	embedded.Tracer
	name string
	opts []trace.TracerOption
}

func (t lazyTracer) Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	return tracerProvider().Tracer(t.name, t.opts...).Start(ctx, name, opts...)
}
