package config

import (
	"testing"
	"time"
)

func TestMetricsSettings(t *testing.T) {
	t.Parallel()
	c, err := Load("order-service", env(nil))
	if err != nil || c.MetricsExporter != "prometheus" || c.MetricsEndpoint != "" || c.MetricsInterval != time.Minute {
		t.Fatalf("defaults: %q %q %s, %v", c.MetricsExporter, c.MetricsEndpoint, c.MetricsInterval, err)
	}
	c, err = Load("order-service", env(map[string]string{"METRICS_EXPORTER": "otlp", "METRICS_ENDPOINT": "http://127.0.0.1:4318", "METRICS_INTERVAL": "15s"}))
	if err != nil || c.MetricsExporter != "otlp" || c.MetricsEndpoint != "http://127.0.0.1:4318" || c.MetricsInterval != 15*time.Second {
		t.Fatalf("set: %q %q %s, %v", c.MetricsExporter, c.MetricsEndpoint, c.MetricsInterval, err)
	}
	for _, bad := range []map[string]string{{"METRICS_EXPORTER": "statsd"}, {"METRICS_INTERVAL": "0s"}, {"METRICS_INTERVAL": "often"}} {
		if _, err := Load("order-service", env(bad)); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}
