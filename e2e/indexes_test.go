package e2e

import (
	"context"
	"errors"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/ticketsaga/saga/infra"
	orderrecords "github.com/ticketsaga/saga/order-service/records"
	"github.com/ticketsaga/saga/shared/deadletter"
	"github.com/ticketsaga/saga/shared/platform/metrics"
	"github.com/ticketsaga/saga/shared/push"
	"github.com/ticketsaga/saga/shared/saga"
	"github.com/ticketsaga/saga/tools/fslimits"
)

// TestIndexDeclarationCoversWhatTheServicesWrite: the services write
// through the Firestore relay, which records every field they set, down
// every path of the saga (completed, failed, compensated, stopped by the
// timeout and cancelled, reconciled, a failed push recorded). Checked
// against infra/indexes.json, no high-write collection may index a value
// that grows with time unless the bucket field leads the index. A field
// planted in an order fails the same check.
func TestIndexDeclarationCoversWhatTheServicesWrite(t *testing.T) {
	t.Parallel()
	decl, err := infra.FirestoreDeclaration()
	if err != nil {
		t.Fatal(err)
	}
	rules := fslimits.NewRules(decl)
	relay, err := fslimits.Start("127.0.0.1:0", os.Getenv("FIRESTORE_EMULATOR_HOST"), rules, fslimits.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(relay.Stop)
	s := startStack(t, stackOptions{timeout: 30 * time.Second, env: map[string]string{"FIRESTORE_EMULATOR_HOST": relay.Addr()}})
	ctx := context.Background()

	rich, poor, ticket, scarce := uniq("ix"), uniq("ix"), uniq("ix-t"), uniq("ix-t")
	s.seedAccount(t, rich, 1000)
	s.seedAccount(t, poor, 5)
	s.seedTicket(t, ticket, 10, 100)
	s.seedTicket(t, scarce, 10, 1)
	mustStatus(t, s.buy(t, rich, "?wait=30s", order(rich, ticket, 1, 10)), http.StatusCreated)
	if r := s.buy(t, poor, "?wait=30s", order(poor, ticket, 1, 10)); r.str("reason") != "insufficient_points" {
		t.Fatalf("a poor buyer: %d %s", r.Status, r.Raw)
	}
	mustStatus(t, s.buy(t, rich, "?wait=30s", order(rich, scarce, 1, 10)), http.StatusCreated)
	if r := s.buy(t, rich, "?wait=30s", order(rich, scarce, 1, 10)); r.str("reason") != "sold_out" {
		t.Fatalf("the second of one ticket: %d %s", r.Status, r.Raw)
	}
	// An order pending past its timeout: the sweep stops it, and its
	// compensations cancel it.
	id := uniq("ix-expired")
	created := time.Now().Add(-time.Hour).UTC()
	if _, err := s.fs.Collection(orderrecords.Orders).Doc(id).Create(ctx, map[string]any{
		"bucket": orderrecords.BucketOf(id), "user_id": rich, "ticket_id": ticket, "quantity": 1, "price": 10, "status": "pending",
		"created_at": created, "updated_at": created,
		"history": []map[string]any{{"event_type": "started-order", "service": saga.OrderService, "at": created}},
	}); err != nil {
		t.Fatal(err)
	}
	mustStatus(t, do(t, "POST", s.order+saga.TaskSweep, nil), http.StatusOK)
	if r := s.orderOf(t, rich, "/orders/"+id+"?wait=30s"); r.str("status") != "cancelled" {
		t.Fatalf("the expired order: %s", r.Raw)
	}
	mustStatus(t, do(t, "POST", s.order+saga.TaskReconcile, nil), http.StatusOK)
	// A failed push, as the push endpoint records it.
	opts, err := metrics.FirestoreOptions(relay.Addr())
	if err != nil {
		t.Fatal(err)
	}
	fs, err := firestore.NewClient(ctx, s.project, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	if err := (deadletter.Recorder{FS: fs, Now: time.Now}).RecordFailure(ctx, push.Message{ID: "1", Subscription: "projects/p/subscriptions/ticket-events",
		Attributes: map[string]string{saga.AttrEventID: uniq("ev"), saga.AttrEventType: string(saga.ConsumedPoint), saga.AttrOrderID: id}}, errors.New("a fault")); err != nil {
		t.Fatal(err)
	}

	written := relay.Written()
	for _, c := range []string{"orders", "point_sagas", "ticket_sagas", "accounts", "stock_shards", "push_failures"} {
		if len(written[c]) == 0 {
			t.Errorf("nothing written to %s seen", c)
		}
	}
	if !written["orders"]["created_at"] || !written["orders"]["next_replay"] || !written["point_sagas"]["updated_at"] {
		t.Errorf("the time fields were not all seen: orders %v", written["orders"])
	}
	if p := rules.Problems(written); len(p) > 0 {
		t.Errorf("infra/indexes.json puts high-write collections' writes in one index range:\n  %s", joinProblems(p))
	}

	// A field planted in an order, through the relay as a service would
	// write it, fails the check.
	if _, err := fs.Collection(orderrecords.Orders).Doc(uniq("planted")).Set(ctx, map[string]any{"planted_at": time.Now()}); err != nil {
		t.Fatal(err)
	}
	p := rules.Problems(relay.Written())
	if len(p) != 1 || p[0].Collection != "orders" || p[0].Field != "planted_at" {
		t.Errorf("a planted time field: %v, want orders.planted_at refused", p)
	}
}

func joinProblems(ps []fslimits.Problem) string {
	var out []string
	for _, p := range ps {
		out = append(out, p.String())
	}
	return strings.Join(out, "\n  ")
}
