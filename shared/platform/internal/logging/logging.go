// Package logging builds slog loggers that write JSON in Cloud Logging's
// shape (severity, message, logging.googleapis.com/trace) and carries the
// request's trace through the context.
package logging

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"go.opentelemetry.io/otel/trace"
)

// New returns a JSON logger for service. project names the traces.
func New(w io.Writer, service, project string, level slog.Level) *slog.Logger {
	h := slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level: level,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) > 0 {
				return a
			}
			switch a.Key {
			case slog.MessageKey:
				a.Key = "message"
			case slog.LevelKey:
				a.Key = "severity"
				a.Value = slog.StringValue(severity(a.Value.Any().(slog.Level)))
			case slog.TimeKey:
				a.Key = "time"
			}
			return a
		},
	})
	return slog.New(traceHandler{Handler: h, project: project}).With("service", service)
}

func severity(l slog.Level) string {
	switch {
	case l >= slog.LevelError:
		return "ERROR"
	case l >= slog.LevelWarn:
		return "WARNING"
	case l >= slog.LevelInfo:
		return "INFO"
	default:
		return "DEBUG"
	}
}

type traceKey struct{}

// traceHandler adds the trace of the context, when there is one, so Cloud
// Logging groups a request's lines.
type traceHandler struct {
	slog.Handler
	project string
}

func (h traceHandler) Handle(ctx context.Context, r slog.Record) error {
	// The OpenTelemetry span wins: it is the saga's trace, which a push
	// request's own header knows nothing of.
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r.AddAttrs(slog.String("logging.googleapis.com/trace", "projects/"+h.project+"/traces/"+sc.TraceID().String()),
			slog.String("logging.googleapis.com/spanId", sc.SpanID().String()),
			slog.Bool("logging.googleapis.com/trace_sampled", sc.IsSampled()))
	} else if t, ok := ctx.Value(traceKey{}).(string); ok && t != "" {
		r.AddAttrs(slog.String("logging.googleapis.com/trace", "projects/"+h.project+"/traces/"+t))
	}
	return h.Handler.Handle(ctx, r)
}

func (h traceHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return traceHandler{Handler: h.Handler.WithAttrs(as), project: h.project}
}

func (h traceHandler) WithGroup(name string) slog.Handler {
	return traceHandler{Handler: h.Handler.WithGroup(name), project: h.project}
}

// Middleware puts the trace id of X-Cloud-Trace-Context (or traceparent)
// into the request's context.
func Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if t := traceID(r.Header); t != "" {
			r = r.WithContext(context.WithValue(r.Context(), traceKey{}, t))
		}
		next.ServeHTTP(w, r)
	})
}

func traceID(h http.Header) string {
	if v := h.Get("X-Cloud-Trace-Context"); v != "" {
		id, _, _ := strings.Cut(v, "/")
		return id
	}
	// W3C: version-traceid-parentid-flags
	if parts := strings.Split(h.Get("traceparent"), "-"); len(parts) == 4 {
		return parts[1]
	}
	return ""
}
