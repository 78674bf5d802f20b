package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"go.opentelemetry.io/otel/trace"
)

// TestSpanWinsOverHeader: a line logged in a span carries the span's trace,
// span id and sampling decision, in Cloud Logging's keys, even when the
// request's X-Cloud-Trace-Context names another trace (a push request's).
func TestSpanWinsOverHeader(t *testing.T) {
	t.Parallel()
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	for _, sampled := range []bool{true, false} {
		var buf bytes.Buffer
		log := New(&buf, "order-service", "proj", 0)
		flags := trace.TraceFlags(0)
		if sampled {
			flags = trace.FlagsSampled
		}
		sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: flags})
		h := Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			log.InfoContext(trace.ContextWithSpanContext(r.Context(), sc), "settled", "order_id", "o1")
		}))
		req := httptest.NewRequest("POST", "/push/events", nil)
		req.Header.Set("X-Cloud-Trace-Context", "abc123/1;o=1")
		h.ServeHTTP(httptest.NewRecorder(), req)

		var line map[string]any
		if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
			t.Fatalf("log line %q: %v", buf.String(), err)
		}
		want := map[string]any{
			"logging.googleapis.com/trace":         "projects/proj/traces/4bf92f3577b34da6a3ce929d0e0e4736",
			"logging.googleapis.com/spanId":        "00f067aa0ba902b7",
			"logging.googleapis.com/trace_sampled": sampled,
			"order_id":                             "o1",
		}
		for k, v := range want {
			if line[k] != v {
				t.Errorf("sampled=%v: %s = %v, want %v", sampled, k, line[k], v)
			}
		}
	}
}

// TestNoSpanNoTraceFields: without a span or a trace header, a line has no
// trace fields (Cloud Logging would group it under a bogus trace).
func TestNoSpanNoTraceFields(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	New(&buf, "point-service", "proj", 0).InfoContext(context.Background(), "hello")
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"logging.googleapis.com/trace", "logging.googleapis.com/spanId", "logging.googleapis.com/trace_sampled"} {
		if _, ok := line[k]; ok {
			t.Errorf("%s = %v on a line with no trace", k, line[k])
		}
	}
}
