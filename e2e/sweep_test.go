package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"cloud.google.com/go/firestore"
	"cloud.google.com/go/firestore/apiv1/firestorepb"
	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"

	"github.com/ticketsaga/saga/infra"
	orderrecords "github.com/ticketsaga/saga/order-service/records"
	orderservice "github.com/ticketsaga/saga/order-service/service"
	"github.com/ticketsaga/saga/shared/platform/serve"
	"github.com/ticketsaga/saga/shared/saga"
)

// TestSweepStopsThousandsOfExpiredOrders: 2,000 expired pending orders are
// all stopped by one run of /tasks/sweep, each with its stopped-order
// published once. order-service runs alone here, with a pull subscription
// counting what it publishes.
func TestSweepStopsThousandsOfExpiredOrders(t *testing.T) {
	t.Parallel()
	const n = 2000
	ctx := context.Background()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	project := "e2e-sweep-" + hex.EncodeToString(b)
	decl, err := infra.Load()
	if err != nil {
		t.Fatal(err)
	}
	ps, err := pubsub.NewClient(ctx, project)
	if err != nil {
		t.Fatal(err)
	}
	defer ps.Close()
	topic := "projects/" + project + "/topics/" + decl.Topic
	sub := "projects/" + project + "/subscriptions/count-stops"
	if _, err := ps.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: topic}); err != nil {
		t.Fatal(err)
	}
	if _, err := ps.SubscriptionAdminClient.CreateSubscription(ctx, &pubsubpb.Subscription{Name: sub, Topic: topic, AckDeadlineSeconds: 60}); err != nil {
		t.Fatal(err)
	}
	fs, err := firestore.NewClient(ctx, project)
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()

	// n orders, pending for an hour.
	created := time.Now().Add(-time.Hour).UTC()
	bw := fs.BulkWriter(ctx)
	for i := range n {
		id := fmt.Sprintf("expired-%04d", i)
		if _, err := bw.Create(fs.Collection("orders").Doc(id), map[string]any{
			"bucket": orderrecords.BucketOf(id), "user_id": "u", "ticket_id": "t", "quantity": 1, "price": 100, "status": "pending",
			"created_at": created, "updated_at": created,
			"history": []map[string]any{{"event_type": "started-order", "service": saga.OrderService, "at": created}},
		}); err != nil {
			t.Fatal(err)
		}
	}
	bw.End()

	env := map[string]string{"GOOGLE_CLOUD_PROJECT": project, "PUBSUB_TOPIC": decl.Topic, "FIRESTORE_EMULATOR_HOST": os.Getenv("FIRESTORE_EMULATOR_HOST"),
		"PUBSUB_EMULATOR_HOST": os.Getenv("PUBSUB_EMULATOR_HOST"), "FIREBASE_AUTH_EMULATOR_HOST": os.Getenv("FIREBASE_AUTH_EMULATOR_HOST"), "FIREBASE_PROJECT": os.Getenv("FIREBASE_PROJECT")}
	app, err := build(orderservice.LoadConfig, orderservice.New)(ctx, func(k string) string { return env[k] }, stack.log(saga.OrderService), serve.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	srv := httptest.NewServer(app.Handler())
	defer srv.Close()

	start := time.Now()
	r := do(t, "POST", srv.URL+"/tasks/sweep", nil)
	took := time.Since(start)
	mustStatus(t, r, http.StatusOK)
	var rep struct {
		Stopped, Failed int
		More            bool
	}
	if err := json.Unmarshal([]byte(r.Raw), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Stopped != n || rep.Failed != 0 || rep.More {
		t.Fatalf("one sweep = %s, want %d stopped", r.Raw, n)
	}
	t.Logf("one sweep stopped %d expired orders in %s", n, took.Round(time.Millisecond))

	stopping := fs.Collection("orders").Where("status", "==", "stopping")
	res, err := stopping.NewAggregationQuery().WithCount("n").Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := res["n"].(*firestorepb.Value).GetIntegerValue(); got != n {
		t.Errorf("%d orders stopping, want %d", got, n)
	}

	// Every order's stopped-order, once.
	seen := map[string]bool{}
	deadline := time.Now().Add(60 * time.Second)
	for len(seen) < n && time.Now().Before(deadline) {
		pr, err := ps.SubscriptionAdminClient.Pull(ctx, &pubsubpb.PullRequest{Subscription: sub, MaxMessages: 1000})
		if err != nil {
			t.Fatal(err)
		}
		var acks []string
		for _, m := range pr.ReceivedMessages {
			acks = append(acks, m.AckId)
			if m.Message.Attributes[saga.AttrEventType] != string(saga.StoppedOrder) {
				t.Errorf("published %v", m.Message.Attributes)
			}
			seen[m.Message.Attributes[saga.AttrOrderID]] = true
		}
		if len(acks) > 0 {
			if err := ps.SubscriptionAdminClient.Acknowledge(ctx, &pubsubpb.AcknowledgeRequest{Subscription: sub, AckIds: acks}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(seen) != n {
		t.Errorf("stopped-order published for %d orders, want %d", len(seen), n)
	}
}
