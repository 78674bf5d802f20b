package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/firestore"
	"cloud.google.com/go/pubsub/v2"

	"github.com/ticketsaga/saga/order-service/ops"
	"github.com/ticketsaga/saga/order-service/reconcile"
	"github.com/ticketsaga/saga/shared/deadletter"
	"github.com/ticketsaga/saga/shared/event"
	"github.com/ticketsaga/saga/shared/outbox"
	"github.com/ticketsaga/saga/shared/push"
	"github.com/ticketsaga/saga/shared/saga"
	ticketrecords "github.com/ticketsaga/saga/ticket-service/records"
)

// sagactl builds the operator tool once per test and runs it against s.
func (s *Stack) sagactl(t *testing.T) func(args ...string) []byte {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "sagactl")
	build := exec.Command("go", "build", "-o", bin, "../tools/cmd/sagactl")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build sagactl: %v\n%s", err, out)
	}
	return func(args ...string) []byte {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "GOOGLE_CLOUD_PROJECT="+s.project, "PUBSUB_TOPIC="+s.decl.Topic)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("sagactl %v: %v\n%s", args, err, out)
		}
		return out
	}
}

// TestDeadLetterAndRedrive: a started-order that point-service keeps
// failing on (a fault: it answers 503) lands on the dead-letter topic after
// 5 attempts, is listed by sagactl with its recorded reason, and, once
// point-service is well, is redriven to point-events only.
func TestDeadLetterAndRedrive(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{timeout: 30 * time.Second})
	ctx := context.Background()
	user, ticket, id := uniq("dl"), uniq("dlt"), uniq("dl-order")
	s.seedAccount(t, user, 1000)
	s.seedTicket(t, ticket, 100, 5)
	env := event.Envelope{ID: id, Order: &event.Order{UserID: user, TicketID: ticket, Quantity: 1, Price: 100}}
	m, err := event.NewMessage(env, saga.StartedOrder, saga.OrderService, uniq("ev"), "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	recorder := deadletter.Recorder{FS: s.fs, Now: time.Now}
	s.deliveries.setHold(func(service string, attrs map[string]string) bool {
		if service != saga.PointService || attrs[saga.AttrEventID] != m.EventID {
			return false
		}
		// What point-service would record if Firestore were down.
		_ = recorder.RecordFailure(ctx, push.Message{Attributes: attrs, Subscription: "projects/x/subscriptions/point-events"}, errors.New("firestore unavailable (held by the test)"))
		return true
	})
	pub := s.pubsub.Publisher(s.decl.Topic)
	defer pub.Stop()
	if _, err := pub.Publish(ctx, &pubsub.Message{Data: m.Data, Attributes: m.Attributes}).Get(ctx); err != nil {
		t.Fatal(err)
	}

	sagactl := s.sagactl(t)
	var groups []ops.Group
	deadline := time.Now().Add(90 * time.Second)
	for len(groups) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no dead letter within 90s")
		}
		time.Sleep(500 * time.Millisecond) // Pub/Sub's retry backoff runs for ~15 s
		if err := json.Unmarshal(sagactl("deadletters", "-json"), &groups); err != nil {
			t.Fatal(err)
		}
	}
	if len(groups) != 1 || groups[0].Subscription != "point-events" || groups[0].Count != 1 || groups[0].Open != 1 ||
		!strings.Contains(groups[0].Reason, "firestore unavailable") || groups[0].EventIDs[0] != m.EventID {
		t.Fatalf("dead letters = %+v", groups)
	}
	if got := s.balance(t, user); got != 1000 {
		t.Fatalf("balance = %d while dead-lettered", got)
	}

	// point-service is well again; the operator redrives.
	s.deliveries.setHold(nil)
	var redrive struct{ Redriven int }
	if err := json.Unmarshal(sagactl("redrive", "-subscription", "point-events", "-json"), &redrive); err != nil || redrive.Redriven != 1 {
		t.Fatalf("redrive = %+v, %v", redrive, err)
	}
	s.deliveries.waitForCount(t, "redriven started-order", 1, func(d delivery) bool {
		return d.Service == saga.PointService && d.EventID == m.EventID
	})
	if got := s.balance(t, user); got != 900 {
		t.Errorf("balance after redrive = %d, want 900", got)
	}
	if err := json.Unmarshal(sagactl("deadletters", "-json"), &groups); err != nil || len(groups) != 0 {
		t.Errorf("dead letters after redrive = %+v, %v", groups, err)
	}
	tl := sagactl("timeline", id)
	if !strings.Contains(string(tl), "consumed-point") {
		t.Errorf("timeline lacks consumed-point:\n%s", tl)
	}
}

// TestCorruptRecords: a stored record that cannot be decoded is a
// permanent error, not a fault: the push is acked at once (no retries, no
// dead letter), and the order still ends where the saga can decide safely:
// an unreadable account cannot pay (unknown_account), an unreadable ticket
// type sells nothing (unknown_ticket, points refunded). A read of such a
// record answers 409 corrupt_record.
func TestCorruptRecords(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{timeout: 30 * time.Second})
	ctx := context.Background()
	corruptUser, user, ticket, corruptTicket, corruptType := uniq("cr"), uniq("cr"), uniq("crt"), uniq("crt"), uniq("crt")
	s.seedAccount(t, corruptUser, 1000)
	s.seedAccount(t, user, 1000)
	s.seedTicket(t, ticket, 100, 5)
	s.seedTicket(t, corruptTicket, 100, 5)
	s.seedTicket(t, corruptType, 100, 5)
	if _, err := s.fs.Collection("accounts").Doc(corruptUser).Set(ctx, map[string]any{"balance": "a lot"}); err != nil {
		t.Fatal(err)
	}
	// Every shard of one type unreadable; another type's own document.
	for k := range 5 {
		if _, err := s.fs.Collection(ticketrecords.Shards).Doc(ticketrecords.ShardID(corruptTicket, k)).
			Set(ctx, map[string]any{"stock": []int{1}, "price": 100, "ticket_id": corruptTicket, "shard": k}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.fs.Collection(ticketrecords.Tickets).Doc(corruptType).Set(ctx, map[string]any{"price": "free", "shards": 5}); err != nil {
		t.Fatal(err)
	}

	r := s.buy(t, corruptUser, "?wait=30s", order(corruptUser, ticket, 1, 100))
	if r.Status != http.StatusConflict || r.str("reason") != "unknown_account" {
		t.Errorf("order by an unreadable account: %d %s", r.Status, r.Raw)
	}
	// A grant reads its shard, not the ticket document (which a sale would
	// make the hot spot): the type's document is read by GET below.
	r = s.buy(t, user, "?wait=30s", order(user, corruptTicket, 1, 100))
	if r.Status != http.StatusConflict || r.str("reason") != "unknown_ticket" {
		t.Errorf("order of an unreadable ticket: %d %s", r.Status, r.Raw)
	}
	if got := s.balance(t, user); got != 1000 {
		t.Errorf("balance = %d, want 1000 (refunded)", got)
	}
	for _, path := range []string{s.point + "/accounts/" + corruptUser, s.ticket + "/tickets/" + corruptType} {
		if r := do(t, "GET", path, nil); r.Status != http.StatusConflict || r.str("error", "code") != "corrupt_record" {
			t.Errorf("GET %s: %d %s", path, r.Status, r.Raw)
		}
	}

	// A step's own record is corrupt: the push is acked at once, once.
	id := uniq("cr-order")
	if _, err := s.fs.Collection("point_sagas").Doc(id).Set(ctx, map[string]any{"state": map[string]any{"not": "a string"}}); err != nil {
		t.Fatal(err)
	}
	m, err := event.NewMessage(event.Envelope{ID: id, Order: &event.Order{UserID: user, TicketID: ticket, Quantity: 1, Price: 100}},
		saga.StartedOrder, saga.OrderService, uniq("ev"), "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	pub := outbox.NewPublisher(s.pubsub, s.decl.Topic)
	if err := pub.Publish(ctx, m); err != nil {
		t.Fatal(err)
	}
	s.deliveries.waitForCount(t, "the started-order with a corrupt record", 1, func(d delivery) bool {
		return d.Service == saga.PointService && d.EventID == m.EventID
	})
	s.deliveries.waitQuiet(t, 2*time.Second)
	attempts := 0
	s.deliveries.mu.Lock()
	for _, d := range s.deliveries.list {
		if d.Service == saga.PointService && d.EventID == m.EventID {
			attempts++
		}
	}
	s.deliveries.mu.Unlock()
	if attempts != 1 {
		t.Errorf("%d deliveries of a message that can never succeed, want 1 (acked)", attempts)
	}
	if got := s.balance(t, user); got != 1000 {
		t.Errorf("balance = %d after a poison message", got)
	}
}

// TestReconciliation: a failed order whose refund was lost (corrupted by
// hand) is found and repaired by re-publishing the stored failed-ticket;
// the next run re-checks that finding and resolves it, and a third finds
// nothing new and changes nothing. Then, among newly settled orders, an
// unreadable one is reported and skipped, and a run that crashed midway
// resumes from its saved cursor.
func TestReconciliation(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{timeout: 30 * time.Second})
	ctx := context.Background()
	user, ticket := uniq("rec"), uniq("rect")
	s.seedAccount(t, user, 1000)
	s.seedTicket(t, ticket, 100, 1)
	ok := s.buy(t, user, "", order(user, ticket, 1, 100))
	mustStatus(t, ok, http.StatusCreated)
	bad := s.buy(t, user, "", order(user, ticket, 1, 100))
	mustStatus(t, bad, http.StatusConflict)
	id := bad.str("order_id")

	// Age every order past the settle time, and lose bad's refund.
	for _, o := range []string{ok.str("order_id"), id} {
		if _, err := s.fs.Collection("orders").Doc(o).Update(ctx, []firestore.Update{{Path: "updated_at", Value: time.Now().Add(-time.Hour)}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.fs.Collection("point_sagas").Doc(id).Update(ctx, []firestore.Update{
		{Path: "state", Value: "consumed"}, {Path: "steps.refund", Value: firestore.Delete}}); err != nil {
		t.Fatal(err)
	}
	s.seedAccount(t, user, 800) // 900 after the good order, minus the lost refund

	reconcileNow := func() reconcile.Run {
		r := do(t, "POST", s.order+"/tasks/reconcile", nil)
		mustStatus(t, r, http.StatusOK)
		var run reconcile.Run
		if err := json.Unmarshal([]byte(r.Raw), &run); err != nil {
			t.Fatal(err)
		}
		return run
	}
	first := reconcileNow()
	if first.Checked != 2 || first.Consistent != 1 || first.Repaired != 1 || first.Findings != 1 || len(first.Samples) != 1 ||
		first.Samples[0].OrderID != id || !strings.HasPrefix(first.Samples[0].Repair, "re-published failed-ticket") {
		t.Fatalf("first run = %+v", first)
	}
	waitBalance(t, s, user, 900)

	second := reconcileNow()
	if second.Checked != 0 || second.Rechecked != 1 || second.Resolved != 1 || second.Findings != 0 || second.Repaired != 0 {
		t.Fatalf("second run = %+v", second)
	}
	third := reconcileNow()
	if third.Checked != 0 || third.Rechecked != 0 || third.Findings != 0 || third.Repaired != 0 || !third.From.Equal(second.Through.Truncate(time.Microsecond)) {
		t.Fatalf("third run = %+v (second through %s)", third, second.Through)
	}
	if got := s.balance(t, user); got != 900 {
		t.Errorf("balance after reruns = %d, want 900", got)
	}

	// Two orders settle; one of them is unreadable.
	ticket2 := uniq("rect")
	s.seedTicket(t, ticket2, 100, 5)
	var newIDs []string
	for range 2 {
		r := s.buy(t, user, "", order(user, ticket2, 1, 100))
		mustStatus(t, r, http.StatusCreated)
		newIDs = append(newIDs, r.str("order_id"))
	}
	if _, err := s.fs.Collection("orders").Doc(newIDs[1]).Update(ctx, []firestore.Update{{Path: "status", Value: map[string]any{"not": "a status"}}}); err != nil {
		t.Fatal(err)
	}
	ps, err := pubsub.NewClient(ctx, s.project)
	if err != nil {
		t.Fatal(err)
	}
	defer ps.Close()
	pub := outbox.NewPublisher(ps, s.decl.Topic)
	r := &reconcile.Reconciler{FS: s.fs, Publisher: pub, Now: time.Now, Settle: 0, CrashAfter: 1}
	if _, err := r.Run(ctx); !errors.Is(err, reconcile.ErrCrashed) {
		t.Fatalf("crashing run: %v", err)
	}
	r.CrashAfter = 0
	resumed, err := r.Run(ctx)
	if err != nil || resumed.Resumed != 1 || resumed.Status != "done" || resumed.Checked != 1 || resumed.Consistent != 1 ||
		resumed.Unreadable != 1 || resumed.Findings != 1 || resumed.Samples[0].OrderID != newIDs[1] {
		t.Fatalf("resumed run = %+v, %v", resumed, err)
	}
	all, err := reconcile.Findings(ctx, s.fs, resumed.ID)
	if err != nil || len(all) != 1 || !strings.Contains(all[0].Problem, "unreadable order") {
		t.Errorf("findings of %s = %+v, %v", resumed.ID, all, err)
	}
	runs, err := s.fs.Collection(reconcile.Runs).Documents(ctx).GetAll()
	if err != nil || len(runs) != 4 {
		t.Errorf("%d recorded runs, want 4 (%v)", len(runs), err)
	}
}

func waitBalance(t *testing.T, s *Stack, user string, want int64) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for s.balance(t, user) != want {
		if time.Now().After(deadline) {
			t.Fatalf("balance of %s never reached %d", user, want)
		}
		time.Sleep(50 * time.Millisecond) // polling the API for a condition
	}
}

// routing is what the dead-letter tools need of s's declaration.
func (s *Stack) routing() ops.Routing {
	return ops.Routing{Topic: s.decl.Topic, Hold: s.decl.DeadLetterSubscription, Consumers: s.decl.Consumers()}
}
