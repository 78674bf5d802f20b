package service

import (
	"testing"
	"time"

	"github.com/ticketsaga/saga/order-service/internal/order"
)

// local is the environment `make run` gives order-service, plus kv.
func local(kv map[string]string) func(string) string {
	all := map[string]string{"FIRESTORE_EMULATOR_HOST": "127.0.0.1:8086", "PUBSUB_EMULATOR_HOST": "127.0.0.1:8085",
		"FIREBASE_AUTH_EMULATOR_HOST": "127.0.0.1:9099"}
	for k, v := range kv {
		all[k] = v
	}
	return func(k string) string { return all[k] }
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
		c, err := LoadConfig(local(map[string]string{"LISTEN_AFTER": tc.value}))
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
	c, err := LoadConfig(local(nil))
	if err != nil || c.Heal != (order.HealPolicy{Pending: 10 * time.Second, First: 30 * time.Second, Max: 2 * time.Minute, GiveUp: 24 * time.Hour}) ||
		c.SweepBudget != time.Minute || c.OrderTimeout != 30*time.Second || c.MaxLongPolls != 2000 {
		t.Fatalf("defaults = %+v, %v", c, err)
	}
	c, err = LoadConfig(local(map[string]string{"REPLAY_AFTER": "1s", "HEAL_AFTER": "2s", "HEAL_MAX_INTERVAL": "4s", "HEAL_GIVE_UP": "10m"}))
	if err != nil || c.Heal != (order.HealPolicy{Pending: time.Second, First: 2 * time.Second, Max: 4 * time.Second, GiveUp: 10 * time.Minute}) {
		t.Fatalf("set = %+v, %v", c.Heal, err)
	}
	// A pending order's first replay may come after the longest wait
	// between replays (the drills' short HEAL_MAX_INTERVAL with the
	// default REPLAY_AFTER): the later ones are then that far apart.
	if c, err := LoadConfig(local(map[string]string{"HEAL_AFTER": "1s", "HEAL_MAX_INTERVAL": "2s"})); err != nil || c.Heal.Pending != 10*time.Second {
		t.Errorf("REPLAY_AFTER beyond HEAL_MAX_INTERVAL: %+v, %v", c.Heal, err)
	}
	for _, bad := range []map[string]string{
		{"HEAL_AFTER": "5m"},         // after the max interval
		{"REPLAY_AFTER": "0s"},       // not positive
		{"HEAL_MAX_INTERVAL": "48h"}, // after giving up
		{"HEAL_GIVE_UP": "0s"},       // not positive
		{"HEAL_AFTER": "soon"},       // not a duration
		{"SWEEP_BUDGET": "-1s"},      // not positive
		{"LONG_POLL_MAX": "0"},       // out of range
	} {
		if _, err := LoadConfig(local(bad)); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

func TestPagesConfig(t *testing.T) {
	t.Parallel()
	c, err := LoadConfig(local(map[string]string{"POINT_SERVICE_URL": "http://127.0.0.1:8081", "TICKET_SERVICE_URL": "http://127.0.0.1:8082",
		"DEAD_LETTER_SUBSCRIPTION": "hold", "SAGA_SUBSCRIPTIONS": "point-events=started-order|failed-ticket order-events=granted-ticket",
		"OPS_ADMIN_UIDS": " ops-1 ,ops-2,", "DEMO_BUYER_EMAIL": "alice@buyers.example.com", "DEMO_BUYER_PASSWORD": "pw"}))
	if err != nil {
		t.Fatal(err)
	}
	p := c.Pages
	if p.PointServiceURL != "http://127.0.0.1:8081" || p.DeadLetterSubscription != "hold" || len(p.Subscriptions["point-events"]) != 2 ||
		len(p.Subscriptions["order-events"]) != 1 || len(p.OpsAdminUIDs) != 2 || p.OpsAdminUIDs[1] != "ops-2" || p.DemoPassword != "pw" {
		t.Errorf("pages config = %+v", p)
	}
	for _, bad := range []map[string]string{
		{"POINT_SERVICE_URL": "http://127.0.0.1:8081"},
		{"POINT_SERVICE_URL": "127.0.0.1:8081", "TICKET_SERVICE_URL": "http://127.0.0.1:8082"},
		{"SAGA_SUBSCRIPTIONS": "point-events=bought-a-horse"},
		{"SAGA_SUBSCRIPTIONS": "point-events"},
	} {
		if _, err := LoadConfig(local(bad)); err == nil {
			t.Errorf("%v: accepted", bad)
		}
	}
}
