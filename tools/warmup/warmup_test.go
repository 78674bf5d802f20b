package warmup

import (
	"context"
	"fmt"
	"math"
	"os"
	"testing"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/ticketsaga/saga/shared/platform/metrics"
	ticketrecords "github.com/ticketsaga/saga/ticket-service/records"
)

func TestScheduleFollows500_50_5(t *testing.T) {
	t.Parallel()
	got := Firestore.Schedule(1667)
	want := []float64{500, 750, 1125, 1667}
	if len(got) != len(want) {
		t.Fatalf("schedule %v, want %v", got, want)
	}
	for i := range want {
		if math.Abs(got[i]-want[i]) > 0.5 {
			t.Fatalf("schedule %v, want %v", got, want)
		}
	}
	// 6,700 operations a second (the orders of a 100,000-ticket sale):
	// seven steps of five minutes, then the target.
	if n := len(Firestore.Schedule(6700)); n != 8 {
		t.Errorf("%d steps to 6,700/s, want 8", n)
	}
	if n := len(Firestore.Schedule(300)); n != 1 {
		t.Errorf("%d steps to 300/s, want 1 (below the start)", n)
	}
}

// TestWarmUpOnACompressedClock: against the emulator, a sale's stock
// shards and its orders collection are brought up step by step, each step
// Growth times the last for Step, the last at the target, with real
// writes; the stock is untouched and no warm-up document is left.
func TestWarmUpOnACompressedClock(t *testing.T) {
	if testing.Short() {
		t.Skip("writes to the Firestore emulator: make test's integration phase runs it")
	}
	t.Parallel()
	host := os.Getenv("FIRESTORE_EMULATOR_HOST")
	if host == "" {
		t.Fatal("FIRESTORE_EMULATOR_HOST is not set: run make test, which starts the emulators")
	}
	ctx := context.Background()
	opts, err := metrics.FirestoreOptions(host)
	if err != nil {
		t.Fatal(err)
	}
	fs, err := firestore.NewClient(ctx, fmt.Sprintf("warmup-%d", time.Now().UnixNano()), opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	const shards = 40
	for k := range shards {
		if _, err := fs.Collection(ticketrecords.Shards).Doc(ticketrecords.ShardID("gig", k)).
			Set(ctx, ticketrecords.Shard{TicketID: "gig", Index: k, Stock: 7, Price: 10}); err != nil {
			t.Fatal(err)
		}
	}
	// The rule compressed: 5 minutes are 1.5 seconds, 500/s is 8/s.
	rule := Rule{Base: 8, Growth: 1.5, Step: 1500 * time.Millisecond}
	all := Sale{TicketID: "gig", Shards: shards, Rate: 20}.Targets(fs)
	targets := []Target{all[0], all[1]} // the shards, and orders at 3 × 20/s
	var seen []Step
	steps, err := Run(ctx, rule, targets, func(s Step) { seen = append(seen, s) })
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != len(steps) {
		t.Errorf("progress reported %d steps of %d", len(seen), len(steps))
	}
	for _, target := range targets {
		want := rule.Schedule(target.Rate)
		i := 0
		for _, s := range steps {
			if s.Target != target.Name {
				continue
			}
			if i >= len(want) || s.Index != i || s.Rate != want[i] {
				t.Fatalf("%s: step %+v, want rate %v", target.Name, s, want)
			}
			if s.Errors > 0 || math.Abs(s.Achieved()-s.Rate) > 0.25*s.Rate+1 || s.Elapsed < rule.Step || s.Elapsed > rule.Step+time.Second {
				t.Errorf("%s: %s", target.Name, s)
			}
			i++
		}
		if i != len(want) {
			t.Errorf("%s: %d steps, want %d (%v)", target.Name, i, len(want), want)
		}
	}
	// The stock is untouched.
	snaps, err := fs.Collection(ticketrecords.Shards).Where(ticketrecords.FieldTicketID, "==", "gig").Documents(ctx).GetAll()
	if err != nil || len(snaps) != shards {
		t.Fatalf("%d shards, %v", len(snaps), err)
	}
	for _, s := range snaps {
		var sh ticketrecords.Shard
		if err := s.DataTo(&sh); err != nil || sh.Stock != 7 {
			t.Fatalf("shard %s after the warm-up: %+v, %v", s.Ref.ID, sh, err)
		}
	}
	if err := Clean(ctx, fs, []string{"orders"}); err != nil {
		t.Fatal(err)
	}
	if left, err := fs.Collection("orders").Documents(ctx).GetAll(); err != nil || len(left) != 0 {
		t.Errorf("%d warm-up documents left, %v", len(left), err)
	}
}
