package config

import "testing"

func TestTraceSettings(t *testing.T) {
	t.Parallel()
	c, err := Load("order-service", env(nil))
	if err != nil || c.TraceExporter != "" || c.TraceSampleRatio != 1 {
		t.Fatalf("defaults: exporter %q ratio %v, %v", c.TraceExporter, c.TraceSampleRatio, err)
	}
	c, err = Load("order-service", env(map[string]string{"TRACE_EXPORTER": "file:/tmp/t.json", "TRACE_SAMPLE_RATIO": "0.25"}))
	if err != nil || c.TraceExporter != "file:/tmp/t.json" || c.TraceSampleRatio != 0.25 {
		t.Fatalf("set: exporter %q ratio %v, %v", c.TraceExporter, c.TraceSampleRatio, err)
	}
	for _, bad := range []map[string]string{{"TRACE_EXPORTER": "jaeger"}, {"TRACE_EXPORTER": "file:"},
		{"TRACE_SAMPLE_RATIO": "2"}, {"TRACE_SAMPLE_RATIO": "-0.1"}, {"TRACE_SAMPLE_RATIO": "some"}} {
		if _, err := Load("order-service", env(bad)); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}
