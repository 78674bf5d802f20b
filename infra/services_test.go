package infra_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/ticketsaga/saga/infra"
	order "github.com/ticketsaga/saga/order-service/service"
	point "github.com/ticketsaga/saga/point-service/service"
	"github.com/ticketsaga/saga/shared/saga"
	ticket "github.com/ticketsaga/saga/ticket-service/service"
)

// tables is each service's step table: the one place in code that says
// which events it handles.
var tables = map[string]saga.Steps{
	saga.OrderService:  order.Table,
	saga.PointService:  point.Table,
	saga.TicketService: ticket.Table,
}

// TestStepTablesMatchTheDeclaration: the events each service's step table
// handles are exactly its subscription's filter in infra/pubsub.json. The
// emulator ignores filters, so an event routed in code but not in the
// declaration would pass every local test and be dropped in production.
func TestStepTablesMatchTheDeclaration(t *testing.T) {
	t.Parallel()
	decl, err := infra.Load()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, s := range decl.Subscriptions {
		table, ok := tables[s.Service]
		if !ok {
			t.Errorf("subscription %s is for %s, which has no step table", s.Name, s.Service)
			continue
		}
		seen[s.Service] = true
		declared := slices.Clone(s.EventTypes)
		slices.Sort(declared)
		if got := table.EventTypes(); !slices.Equal(got, declared) {
			t.Errorf("%s handles %v; its subscription %s filters %v", s.Service, got, s.Name, declared)
		}
	}
	for svc := range tables {
		if !seen[svc] {
			t.Errorf("%s has a step table but no subscription", svc)
		}
	}
}

// TestServicesRefuseToStartUnauthenticated: on Cloud Run and as a
// function, each service's configuration (what its main loads first)
// refuses to start without its authentication, and says what is missing.
func TestServicesRefuseToStartUnauthenticated(t *testing.T) {
	t.Parallel()
	full := map[string]string{"K_SERVICE": "x", "GOOGLE_CLOUD_PROJECT": "p", "AUTH_AUDIENCE": "https://x.run.app",
		"PUSH_SERVICE_ACCOUNT": "push@p.iam.gserviceaccount.com", "TASK_SERVICE_ACCOUNT": "sched@p.iam.gserviceaccount.com",
		"ADMIN_IDENTITIES": "ops@example.com"}
	loads := map[string]func(func(string) string) error{
		saga.OrderService:  func(g func(string) string) error { _, err := order.LoadConfig(g); return err },
		saga.PointService:  func(g func(string) string) error { _, err := point.LoadConfig(g); return err },
		saga.TicketService: func(g func(string) string) error { _, err := ticket.LoadConfig(g); return err },
	}
	env := func(drop string, set ...string) func(string) string {
		m := map[string]string{}
		for k, v := range full {
			if k != drop {
				m[k] = v
			}
		}
		for i := 0; i+1 < len(set); i += 2 {
			m[set[i]] = set[i+1]
		}
		return func(k string) string { return m[k] }
	}
	for svc, load := range loads {
		if err := load(env("")); err != nil {
			t.Errorf("%s fully configured: %v", svc, err)
		}
		missing := []string{"AUTH_AUDIENCE", "PUSH_SERVICE_ACCOUNT", "TASK_SERVICE_ACCOUNT"}
		if svc != saga.OrderService {
			missing = append(missing, "ADMIN_IDENTITIES")
		}
		for _, drop := range missing {
			if err := load(env(drop)); err == nil || !strings.Contains(err.Error(), drop) || !strings.Contains(err.Error(), "refuses to start") {
				t.Errorf("%s on Cloud Run without %s: %v", svc, drop, err)
			}
			if err := load(env(drop, "K_SERVICE", "", "FUNCTION_TARGET", "Fn")); err == nil || !strings.Contains(err.Error(), drop) {
				t.Errorf("%s as a function without %s: %v", svc, drop, err)
			}
		}
	}
	if err := loads[saga.OrderService](env("", "FIREBASE_AUTH_EMULATOR_HOST", "127.0.0.1:9099")); err == nil ||
		!strings.Contains(err.Error(), "FIREBASE_AUTH_EMULATOR_HOST") {
		t.Errorf("order-service on Cloud Run with the Auth emulator: %v", err)
	}
	local := func(k string) string {
		return map[string]string{"FIRESTORE_EMULATOR_HOST": "127.0.0.1:8086", "PUBSUB_EMULATOR_HOST": "127.0.0.1:8085"}[k]
	}
	if err := loads[saga.OrderService](local); err == nil || !strings.Contains(err.Error(), "FIREBASE_AUTH_EMULATOR_HOST") {
		t.Errorf("order-service locally without the Auth emulator: %v", err)
	}
	if err := loads[saga.PointService](local); err != nil {
		t.Errorf("point-service locally: %v", err)
	}
}
