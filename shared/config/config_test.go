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

func TestHealPolicy(t *testing.T) {
	t.Parallel()
	c, err := Load("order-service", env(nil))
	if err != nil || c.Heal != (HealPolicy{First: 30 * time.Second, Max: 2 * time.Minute, GiveUp: 24 * time.Hour}) || c.SweepBudget != time.Minute {
		t.Fatalf("defaults = %+v %s, %v", c.Heal, c.SweepBudget, err)
	}
	c, err = Load("order-service", env(map[string]string{"HEAL_AFTER": "2s", "HEAL_MAX_INTERVAL": "4s", "HEAL_GIVE_UP": "10m"}))
	if err != nil || c.Heal != (HealPolicy{First: 2 * time.Second, Max: 4 * time.Second, GiveUp: 10 * time.Minute}) {
		t.Fatalf("set = %+v, %v", c.Heal, err)
	}
	for _, bad := range []map[string]string{
		{"HEAL_AFTER": "5m"},         // after the max interval
		{"HEAL_MAX_INTERVAL": "48h"}, // after giving up
		{"HEAL_GIVE_UP": "0s"},       // not positive
		{"HEAL_AFTER": "soon"},       // not a duration
		{"SWEEP_BUDGET": "-1s"},      // not positive
	} {
		if _, err := Load("order-service", env(bad)); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}
