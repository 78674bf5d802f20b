package config

import (
	"strings"
	"testing"
	"time"
)

func env(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }

// local is the environment `make run` gives the services, plus kv.
func local(kv map[string]string) func(string) string {
	all := map[string]string{"FIRESTORE_EMULATOR_HOST": "127.0.0.1:8086", "PUBSUB_EMULATOR_HOST": "127.0.0.1:8085",
		"FIREBASE_AUTH_EMULATOR_HOST": "127.0.0.1:9099"}
	for k, v := range kv {
		all[k] = v
	}
	return env(all)
}

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
		c, err := Load("order-service", local(map[string]string{"LISTEN_AFTER": tc.value}))
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
	c, err := Load("order-service", local(nil))
	if err != nil || c.Heal != (HealPolicy{First: 30 * time.Second, Max: 2 * time.Minute, GiveUp: 24 * time.Hour}) || c.SweepBudget != time.Minute {
		t.Fatalf("defaults = %+v %s, %v", c.Heal, c.SweepBudget, err)
	}
	c, err = Load("order-service", local(map[string]string{"HEAL_AFTER": "2s", "HEAL_MAX_INTERVAL": "4s", "HEAL_GIVE_UP": "10m"}))
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
		if _, err := Load("order-service", local(bad)); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

// TestFailClosed: on Cloud Run, as a function, or anywhere but against the
// local emulators, a service refuses to start unless push, task, admin
// and buyer authentication are configured, and says what is missing.
func TestFailClosed(t *testing.T) {
	t.Parallel()
	full := map[string]string{"K_SERVICE": "x", "GOOGLE_CLOUD_PROJECT": "p", "AUTH_AUDIENCE": "https://x.run.app",
		"PUSH_SERVICE_ACCOUNT": "push@p.iam.gserviceaccount.com", "TASK_SERVICE_ACCOUNT": "sched@p.iam.gserviceaccount.com",
		"ADMIN_IDENTITIES": "ops@example.com, saga-order@p.iam.gserviceaccount.com"}
	without := func(drop ...string) map[string]string {
		out := map[string]string{}
		for k, v := range full {
			out[k] = v
		}
		for _, d := range drop {
			delete(out, d)
		}
		return out
	}
	for _, svc := range []string{"order-service", "point-service", "ticket-service"} {
		c, err := Load(svc, env(full))
		if err != nil || !c.OnCloud || c.Emulated {
			t.Fatalf("%s fully configured: %+v, %v", svc, c, err)
		}
		for _, drop := range []string{"AUTH_AUDIENCE", "PUSH_SERVICE_ACCOUNT", "TASK_SERVICE_ACCOUNT"} {
			_, err := Load(svc, env(without(drop)))
			if err == nil || !strings.Contains(err.Error(), drop) || !strings.Contains(err.Error(), "refuses to start") {
				t.Errorf("%s without %s: %v", svc, drop, err)
			}
		}
		// As a function, and on a machine that is neither Cloud Run nor
		// the emulators, the same.
		fn := without("K_SERVICE", "PUSH_SERVICE_ACCOUNT")
		fn["FUNCTION_TARGET"] = "OrderAPI"
		if _, err := Load(svc, env(fn)); err == nil || !strings.Contains(err.Error(), "PUSH_SERVICE_ACCOUNT") {
			t.Errorf("%s as a function without PUSH_SERVICE_ACCOUNT: %v", svc, err)
		}
		if _, err := Load(svc, env(map[string]string{"GOOGLE_CLOUD_PROJECT": "p"})); err == nil {
			t.Errorf("%s with nothing configured against real Google Cloud started", svc)
		}
		// The emulators' variables on Cloud Run do not open anything.
		emu := without("PUSH_SERVICE_ACCOUNT")
		emu["FIRESTORE_EMULATOR_HOST"] = "127.0.0.1:8086"
		if _, err := Load(svc, env(emu)); err == nil {
			t.Errorf("%s on Cloud Run with FIRESTORE_EMULATOR_HOST and no PUSH_SERVICE_ACCOUNT started", svc)
		}
	}
	for _, svc := range []string{"point-service", "ticket-service"} {
		if _, err := Load(svc, env(without("ADMIN_IDENTITIES"))); err == nil || !strings.Contains(err.Error(), "ADMIN_IDENTITIES") {
			t.Errorf("%s without ADMIN_IDENTITIES: %v", svc, err)
		}
	}
	if _, err := Load("order-service", env(without("ADMIN_IDENTITIES"))); err != nil {
		t.Errorf("order-service needs no ADMIN_IDENTITIES: %v", err)
	}
	unsigned := without()
	unsigned["FIREBASE_AUTH_EMULATOR_HOST"] = "127.0.0.1:9099"
	if _, err := Load("order-service", env(unsigned)); err == nil || !strings.Contains(err.Error(), "FIREBASE_AUTH_EMULATOR_HOST") {
		t.Errorf("order-service on Cloud Run with the Auth emulator: %v", err)
	}
	// Locally, against the emulators, it starts open, but buyers still
	// need the Auth emulator.
	if c, err := Load("point-service", local(nil)); err != nil || !c.Emulated {
		t.Errorf("point-service locally: %+v, %v", c, err)
	}
	noAuth := local(nil)
	if _, err := Load("order-service", func(k string) string {
		if k == "FIREBASE_AUTH_EMULATOR_HOST" {
			return ""
		}
		return noAuth(k)
	}); err == nil || !strings.Contains(err.Error(), "FIREBASE_AUTH_EMULATOR_HOST") {
		t.Errorf("order-service locally without the Auth emulator: %v", err)
	}
}
