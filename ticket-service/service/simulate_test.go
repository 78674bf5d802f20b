package service

import (
	"strings"
	"testing"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// The simulated write limit is a bench setting: taken against the
// emulators, refused anywhere else even with every check configured.
func TestShardWriteRateOnlyOnEmulators(t *testing.T) {
	t.Parallel()
	local := map[string]string{"FIRESTORE_EMULATOR_HOST": "127.0.0.1:8086", "PUBSUB_EMULATOR_HOST": "127.0.0.1:8085", EnvShardWriteRate: "5"}
	c, err := LoadConfig(env(local))
	if err != nil || c.ShardWriteRate != 5 {
		t.Fatalf("against the emulators: %+v, %v, want a rate of 5", c.ShardWriteRate, err)
	}
	delete(local, EnvShardWriteRate)
	if c, err := LoadConfig(env(local)); err != nil || c.ShardWriteRate != 0 {
		t.Fatalf("unset: %d, %v, want 0 (off)", c.ShardWriteRate, err)
	}
	for _, bad := range []string{"0", "-1", "1001", "fast"} {
		local[EnvShardWriteRate] = bad
		if _, err := LoadConfig(env(local)); err == nil {
			t.Errorf("%s=%s accepted", EnvShardWriteRate, bad)
		}
	}
	cloud := map[string]string{"K_SERVICE": "ticket-service", "AUTH_AUDIENCE": "https://ticket", "PUSH_SERVICE_ACCOUNT": "push@x",
		"TASK_SERVICE_ACCOUNT": "task@x", "ADMIN_IDENTITIES": "admin@x"}
	if _, err := LoadConfig(env(cloud)); err != nil {
		t.Fatalf("on Cloud Run without the setting: %v", err)
	}
	cloud[EnvShardWriteRate] = "5"
	if _, err := LoadConfig(env(cloud)); err == nil || !strings.Contains(err.Error(), EnvShardWriteRate) {
		t.Fatalf("on Cloud Run with %s: %v, want a refusal naming it", EnvShardWriteRate, err)
	}
}
