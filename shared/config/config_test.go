package config

import (
	"testing"
	"time"
)

func env(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }

func TestListenAfter(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		value   string
		want    time.Duration
		wantErr bool
	}{
		{"", time.Second, false},
		{"0s", 0, false},
		{"250ms", 250 * time.Millisecond, false},
		{"-1s", 0, true},
		{"2m", 0, true},
		{"soon", 0, true},
	} {
		c, err := Load("order-service", env(map[string]string{"LISTEN_AFTER": tc.value}))
		if (err != nil) != tc.wantErr {
			t.Fatalf("LISTEN_AFTER=%q: err = %v, want error %v", tc.value, err, tc.wantErr)
		}
		if err == nil && c.ListenAfter != tc.want {
			t.Errorf("LISTEN_AFTER=%q: %s, want %s", tc.value, c.ListenAfter, tc.want)
		}
	}
}
