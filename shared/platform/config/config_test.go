package config

import (
	"strings"
	"testing"
	"time"
)

func env(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }

func TestLoadDefaultsAndOverrides(t *testing.T) {
	t.Parallel()
	c, err := Load("point-service", env(local))
	if err != nil || c.Port != "8080" || c.ProjectID != DefaultProject || c.Topic != "saga-events" || !c.Emulated {
		t.Fatalf("defaults = %+v, %v", c, err)
	}
	c, err = Load("point-service", env(map[string]string{"PORT": "9000", "METRICS_INTERVAL": "500ms", "ADMIN_IDENTITIES": " a@x.com, b@x.com ,",
		"AUTH_AUDIENCE": "https://p"}))
	if err != nil || c.Port != "9000" || c.MetricsInterval != 500*time.Millisecond || len(c.AdminIdentities) != 2 || c.AdminIdentities[1] != "b@x.com" {
		t.Fatalf("overrides = %+v, %v", c, err)
	}
	for _, bad := range []map[string]string{{"METRICS_INTERVAL": "soon"}, {"METRICS_INTERVAL": "-1s"}, {"LOG_LEVEL": "LOUD"},
		{"PUSH_SERVICE_ACCOUNT": "p@x.com"}} {
		if _, err := Load("point-service", env(bad)); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

// TestRequireAuth: outside the emulators a service refuses to start unless
// push, task (and its own) authentication are configured, and says which
// variable is missing; on Cloud Run the emulators' variables open nothing.
func TestRequireAuth(t *testing.T) {
	t.Parallel()
	full := map[string]string{"K_SERVICE": "x", "AUTH_AUDIENCE": "https://x.run.app",
		"PUSH_SERVICE_ACCOUNT": "push@p.iam.gserviceaccount.com", "TASK_SERVICE_ACCOUNT": "sched@p.iam.gserviceaccount.com",
		"ADMIN_IDENTITIES": "ops@example.com"}
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
	if _, err := LoadPrivate("point-service", env(full)); err != nil {
		t.Fatalf("fully configured: %v", err)
	}
	for _, drop := range []string{"PUSH_SERVICE_ACCOUNT", "TASK_SERVICE_ACCOUNT", "ADMIN_IDENTITIES"} {
		_, err := LoadPrivate("point-service", env(without(drop)))
		if err == nil || !strings.Contains(err.Error(), drop) || !strings.Contains(err.Error(), "refuses to start on Cloud Run") {
			t.Errorf("without %s: %v", drop, err)
		}
	}
	emu := without("PUSH_SERVICE_ACCOUNT")
	emu["FIRESTORE_EMULATOR_HOST"] = "127.0.0.1:8086"
	if _, err := LoadPrivate("point-service", env(emu)); err == nil {
		t.Error("on Cloud Run, FIRESTORE_EMULATOR_HOST opened the service")
	}
	fn := without("K_SERVICE", "TASK_SERVICE_ACCOUNT")
	fn["FUNCTION_TARGET"] = "PointAPI"
	if _, err := LoadPrivate("point-service", env(fn)); err == nil || !strings.Contains(err.Error(), "TASK_SERVICE_ACCOUNT") {
		t.Errorf("as a function without TASK_SERVICE_ACCOUNT: %v", err)
	}
	if _, err := LoadPrivate("point-service", env(map[string]string{"GOOGLE_CLOUD_PROJECT": "p"})); err == nil {
		t.Error("against real Google Cloud with nothing configured, it started")
	}
	if c, err := LoadPrivate("point-service", env(local)); err != nil || !c.Emulated {
		t.Errorf("against the emulators: %+v, %v", c, err)
	}
}

// local is what the local stack gives a service: both emulators, here.
var local = map[string]string{"FIRESTORE_EMULATOR_HOST": "127.0.0.1:8086", "PUBSUB_EMULATOR_HOST": "localhost:8085"}

// TestLocalModeOnlyWhenEveryBackendIsLocal: the open doors of the local
// mode need every emulator the service uses, on this machine, off Cloud
// Run; any mix refuses to start and names what is inconsistent.
func TestLocalModeOnlyWhenEveryBackendIsLocal(t *testing.T) {
	t.Parallel()
	with := func(base map[string]string, kv ...string) map[string]string {
		out := map[string]string{}
		for k, v := range base {
			out[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == "" {
				delete(out, kv[i])
			} else {
				out[kv[i]] = kv[i+1]
			}
		}
		return out
	}
	ipv6 := with(local, "PUBSUB_EMULATOR_HOST", "[::1]:8085")
	if c, err := LoadPrivate("point-service", env(ipv6)); err != nil || !c.Emulated {
		t.Errorf("both emulators on loopback: emulated %v, %v", c.Emulated, err)
	}
	// The Auth emulator is order-service's third backend.
	if c, err := Load("order-service", env(with(local, "FIREBASE_AUTH_EMULATOR_HOST", "127.0.0.1:9099")), "FIREBASE_AUTH_EMULATOR_HOST"); err != nil || !c.Emulated || c.RequireAuth(nil) != nil {
		t.Errorf("three emulators: emulated %v, %v", c.Emulated, err)
	}
	for _, tc := range []struct {
		name  string
		env   map[string]string
		extra []string
		want  []string // in the refusal
	}{
		{"Firestore emulated, Pub/Sub real", with(local, "PUBSUB_EMULATOR_HOST", ""), nil,
			[]string{"FIRESTORE_EMULATOR_HOST set but PUBSUB_EMULATOR_HOST not"}},
		{"Pub/Sub emulated, Firestore real", with(local, "FIRESTORE_EMULATOR_HOST", ""), nil,
			[]string{"PUBSUB_EMULATOR_HOST set but FIRESTORE_EMULATOR_HOST not"}},
		{"order-service's buyers on real Identity Platform", local, []string{"FIREBASE_AUTH_EMULATOR_HOST"},
			[]string{"set but FIREBASE_AUTH_EMULATOR_HOST not"}},
		{"the Auth emulator against real Firestore and Pub/Sub", map[string]string{"FIREBASE_AUTH_EMULATOR_HOST": "127.0.0.1:9099"},
			[]string{"FIREBASE_AUTH_EMULATOR_HOST"}, []string{"FIREBASE_AUTH_EMULATOR_HOST set but FIRESTORE_EMULATOR_HOST, PUBSUB_EMULATOR_HOST not"}},
		{"an emulator on another host", with(local, "PUBSUB_EMULATOR_HOST", "pubsub.internal:8085"), nil,
			[]string{"PUBSUB_EMULATOR_HOST=pubsub.internal:8085 is not on this machine"}},
		{"emulators on Cloud Run", with(local, "K_SERVICE", "point-service"), nil,
			[]string{"on Cloud Run with FIRESTORE_EMULATOR_HOST, PUBSUB_EMULATOR_HOST set"}},
		{"an emulator in a function", with(map[string]string{"FUNCTION_TARGET": "PointService", "PUBSUB_EMULATOR_HOST": "127.0.0.1:8085"}), nil,
			[]string{"on Cloud Run with PUBSUB_EMULATOR_HOST set"}},
	} {
		c, err := Load("point-service", env(tc.env), tc.extra...)
		if err != nil {
			t.Fatalf("%s: Load: %v", tc.name, err)
		}
		if c.Emulated {
			t.Errorf("%s: emulated (its doors open)", tc.name)
		}
		err = c.RequireAuth(nil)
		for _, want := range tc.want {
			if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "refuses to start") {
				t.Errorf("%s: %v, want a refusal naming %q", tc.name, err, want)
			}
		}
	}
}
