package e2e

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
)

// TestSequentialLatency runs 50 sequential orders on the warm stack and
// reports their p50 next to the emulator's own one-hop publish-to-push
// latency, measured in the same run. It asserts correctness only: speed is
// for `make bench`.
func TestSequentialLatency(t *testing.T) {
	hop := oneHopLatency(t, 30)
	user, ticket := uniq("seq"), uniq("seqt")
	const n = 50
	stack.seedAccount(t, user, 100*n)
	stack.seedTicket(t, ticket, 100, n)
	stack.buy(t, user, "", order(user, ticket, 1, 100)) // warm-up
	var lat []time.Duration
	for i := 0; i < n-1; i++ {
		start := time.Now()
		r := stack.buy(t, user, "", order(user, ticket, 1, 100))
		lat = append(lat, time.Since(start))
		mustStatus(t, r, http.StatusCreated)
	}
	if got := stack.stock(t, ticket); got != 0 {
		t.Errorf("stock = %d, want 0", got)
	}
	p50 := median(lat)
	t.Logf("sequential orders: n=%d p50=%s; emulator one hop p50=%s; ratio to three hops %.2f",
		len(lat), p50, hop, float64(p50)/float64(3*hop))
}

// oneHopLatency publishes n messages, one at a time, through a throwaway
// topic to a local push endpoint and returns the median publish-to-push
// time.
func oneHopLatency(t *testing.T, n int) time.Duration {
	t.Helper()
	ctx := context.Background()
	arrived := make(chan string, n)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m, _ := peekPush(r)
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
		arrived <- m.Attributes["seq"]
	}))
	defer srv.Close()
	topic, sub := uniq("hop"), uniq("hop-sub")
	project := "projects/" + stack.project
	if _, err := stack.pubsub.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: project + "/topics/" + topic}); err != nil {
		t.Fatal(err)
	}
	if _, err := stack.pubsub.SubscriptionAdminClient.CreateSubscription(ctx, &pubsubpb.Subscription{
		Name: project + "/subscriptions/" + sub, Topic: project + "/topics/" + topic,
		PushConfig: &pubsubpb.PushConfig{PushEndpoint: srv.URL + "/hop"},
	}); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = stack.pubsub.SubscriptionAdminClient.DeleteSubscription(ctx, &pubsubpb.DeleteSubscriptionRequest{Subscription: project + "/subscriptions/" + sub})
	}()
	pub := stack.pubsub.Publisher(topic)
	pub.PublishSettings.CountThreshold = 1
	pub.PublishSettings.DelayThreshold = time.Millisecond
	defer pub.Stop()
	var lat []time.Duration
	for i := 0; i < n+1; i++ {
		seq := strconv.Itoa(i)
		start := time.Now()
		if _, err := pub.Publish(ctx, &pubsub.Message{Data: []byte("x"), Attributes: map[string]string{"seq": seq}}).Get(ctx); err != nil {
			t.Fatal(err)
		}
		select {
		case got := <-arrived:
			if got != seq {
				t.Fatalf("push %s arrived while waiting for %s", got, seq)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("push %s did not arrive within 10s", seq)
		}
		if i > 0 { // the first one warms the subscription up
			lat = append(lat, time.Since(start))
		}
	}
	return median(lat)
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
