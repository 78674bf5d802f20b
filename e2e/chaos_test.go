package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/ticketsaga/saga/tools/chaos"
	"github.com/ticketsaga/saga/tools/loadgen"
)

func (s *Stack) startDuplicator(t *testing.T, maxDelay time.Duration) *chaos.Duplicator {
	t.Helper()
	d, err := chaos.Start(context.Background(), s.pubsub, s.project, s.decl.Topic, "chaos-tap", 2, maxDelay)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Stop)
	return d
}

// TestChaos runs many orders for scarce tickets while every saga event is
// delivered 1-2 extra times after random delays of up to 1.5 s, orders time
// out after 1 s, and, in the crash runs, services die right after commits.
// Then it checks every guarantee of the contract's guarantees (docs/contract.md) through the HTTP API.
func TestChaos(t *testing.T) {
	for _, run := range []struct {
		name  string
		crash float64
	}{{"duplicates-and-timeouts", 0}, {"with-crashes-after-commit", 0.1}} {
		t.Run(run.name, func(t *testing.T) {
			runChaos(t, run.crash)
		})
	}
}

func runChaos(t *testing.T, crash float64) {
	ctx := context.Background()
	s := startStack(t, stackOptions{timeout: time.Second, crash: crash})
	dup := s.startDuplicator(t, 1500*time.Millisecond)
	s.sweeper(t, 250*time.Millisecond)
	c := s.client()
	run, err := loadgen.Seed(ctx, c, loadgen.Scenario{
		Prefix: uniq("chaos"), Users: 12, Balance: 1000, Tickets: 3, Price: 100, Stock: 12,
		Orders: 110, Concurrency: 8, MaxQuantity: 2, Wait: 10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	run.Fire(ctx, c)
	finals, err := run.Settle(ctx, c, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// After the system goes quiet: every copy published, every push handled.
	dup.Drain()
	if n := dup.Failed(); n > 0 {
		t.Errorf("%d duplicates could not be injected", n)
	}
	s.deliveries.waitQuiet(t, 2*time.Second)
	rep, err := run.Verify(ctx, c, finals)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range rep.Violations {
		t.Error(v)
	}
	t.Logf("chaos (crash %.2f): %d orders: %d completed, %d failed, %d cancelled; %d duplicates injected; %d invariant violations",
		crash, len(run.Orders), rep.Counts["completed"], rep.Counts["failed"], rep.Counts["cancelled"], dup.Injected(), len(rep.Violations))
}
