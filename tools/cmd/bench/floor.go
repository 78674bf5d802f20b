package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
)

// Floor is the emulator's own latency, with endpoints that do nothing.
//
// The emulator pushes from two loops per subscription, each of which
// sleeps 100 ms whenever it finds the backlog empty, and the sleep starts
// when that loop's last push ends. A hop's latency is therefore set by
// where the publish falls in those 100 ms cycles. Publishing right after
// the previous push arrives always hits the same point of the cycle, so
// it measures anything from a few ms to 96 ms depending on how the two
// loops happen to be aligned in that run. The one-hop floor samples the
// cycle at random instead: it waits a random 0–200 ms before each publish.
//
// The chain is a saga with no work in it: one topic with as many push
// subscriptions as the saga has, where the endpoint of the first hop
// publishes the second hop before acking, and so on for three hops. It
// carries the same coupling as the saga (every endpoint sees every event,
// and each push restarts the cycle of the loop that made it), so the saga
// over the chain is the cost of the saga's own work.
type Floor struct {
	Samples      int     `json:"samples"`
	OneHopP50Ms  float64 `json:"one_hop_p50_ms"`
	OneHopP90Ms  float64 `json:"one_hop_p90_ms"`
	ChainSamples int     `json:"chain_samples"`
	ChainP50Ms   float64 `json:"three_hop_chain_p50_ms"`
	ChainP90Ms   float64 `json:"three_hop_chain_p90_ms"`
}

// ThreeHopsMs is the floor of a saga: three events, each one hop.
func (f Floor) ThreeHopsMs() float64 { return 3 * f.OneHopP50Ms }

// pushServer is a local push endpoint: every push is acked; fn sees
// it first, with the endpoint's path and the message's attributes.
func pushServer(fn func(path string, attrs map[string]string)) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Message struct {
				Attributes map[string]string `json:"attributes"`
			} `json:"message"`
		}
		_ = json.NewDecoder(r.Body).Decode(&body)
		fn(r.URL.Path, body.Message.Attributes)
		w.WriteHeader(http.StatusNoContent)
	}))
}

// throwaway creates a topic and n push subscriptions to base+"/s<i>",
// and returns a publisher on the topic and a cleanup.
func throwaway(ctx context.Context, c *pubsub.Client, project, name, base string, n int) (*pubsub.Publisher, func(), error) {
	suffix := strconv.FormatInt(time.Now().UnixNano(), 36)
	topic := "projects/" + project + "/topics/" + name + "-" + suffix
	if _, err := c.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: topic}); err != nil {
		return nil, nil, err
	}
	var subs []string
	cleanup := func() {
		for _, s := range subs {
			_ = c.SubscriptionAdminClient.DeleteSubscription(context.WithoutCancel(ctx), &pubsubpb.DeleteSubscriptionRequest{Subscription: s})
		}
		_ = c.TopicAdminClient.DeleteTopic(context.WithoutCancel(ctx), &pubsubpb.DeleteTopicRequest{Topic: topic})
	}
	for i := range n {
		sub := fmt.Sprintf("projects/%s/subscriptions/%s-%s-%d", project, name, suffix, i)
		if _, err := c.SubscriptionAdminClient.CreateSubscription(ctx, &pubsubpb.Subscription{Name: sub, Topic: topic,
			PushConfig: &pubsubpb.PushConfig{PushEndpoint: fmt.Sprintf("%s/s%d", base, i)}}); err != nil {
			cleanup()
			return nil, nil, err
		}
		subs = append(subs, sub)
	}
	pub := c.Publisher(topic)
	pub.PublishSettings.CountThreshold = 1
	pub.PublishSettings.DelayThreshold = time.Millisecond
	return pub, func() { pub.Stop(); cleanup() }, nil
}

func measureFloor(ctx context.Context, e env, n, chains, subs int) (Floor, error) {
	c, err := pubsub.NewClient(ctx, e.project)
	if err != nil {
		return Floor{}, err
	}
	defer c.Close()
	f := Floor{Samples: n, ChainSamples: chains}
	hop, err := oneHop(ctx, c, e.project, n)
	if err != nil {
		return Floor{}, err
	}
	f.OneHopP50Ms, f.OneHopP90Ms = ms(pct(hop, 0.5)), ms(pct(hop, 0.9))
	chain, err := threeHopChain(ctx, c, e.project, chains, subs)
	if err != nil {
		return Floor{}, err
	}
	f.ChainP50Ms, f.ChainP90Ms = ms(pct(chain, 0.5)), ms(pct(chain, 0.9))
	return f, nil
}

func oneHop(ctx context.Context, c *pubsub.Client, project string, n int) ([]time.Duration, error) {
	arrived := make(chan string, 16)
	srv := pushServer(func(_ string, attrs map[string]string) { arrived <- attrs["seq"] })
	defer srv.Close()
	pub, cleanup, err := throwaway(ctx, c, project, "bench-hop", srv.URL, 1)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	var lat []time.Duration
	for i := 0; i < n; i++ {
		progress(fmt.Sprintf("floor: one hop %d/%d", i+1, n))
		time.Sleep(rand.N(200 * time.Millisecond)) // a random point of the emulator's push cycle
		seq := strconv.Itoa(i)
		start := time.Now()
		if _, err := pub.Publish(ctx, &pubsub.Message{Data: []byte("x"), Attributes: map[string]string{"seq": seq}}).Get(ctx); err != nil {
			return nil, err
		}
		if err := await(ctx, arrived, seq); err != nil {
			return nil, err
		}
		lat = append(lat, time.Since(start))
	}
	return lat, nil
}

// threeHopChain runs n chains one after the other, as the sequential saga
// runs its orders, over subs subscriptions.
func threeHopChain(ctx context.Context, c *pubsub.Client, project string, n, subs int) ([]time.Duration, error) {
	done := make(chan string, 16)
	var pub atomic.Pointer[pubsub.Publisher]
	srv := pushServer(func(path string, attrs map[string]string) {
		h, _ := strconv.Atoi(attrs["hop"])
		switch {
		case path != fmt.Sprintf("/s%d", h-1): // not this endpoint's event: ack only
		case h == 3:
			done <- attrs["seq"]
		default: // the next hop is published before the ack, as a saga step does
			_, _ = pub.Load().Publish(ctx, &pubsub.Message{Data: []byte("x"), Attributes: map[string]string{"seq": attrs["seq"], "hop": strconv.Itoa(h + 1)}}).Get(ctx)
		}
	})
	defer srv.Close()
	p, cleanup, err := throwaway(ctx, c, project, "bench-chain", srv.URL, subs)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	pub.Store(p)
	var lat []time.Duration
	for i := -5; i < n; i++ { // five to settle the loops, as the sequential sagas warm up
		progress(fmt.Sprintf("floor: three-hop chain %d/%d", i+6, n+5))
		seq := strconv.Itoa(i)
		start := time.Now()
		if _, err := p.Publish(ctx, &pubsub.Message{Data: []byte("x"), Attributes: map[string]string{"seq": seq, "hop": "1"}}).Get(ctx); err != nil {
			return nil, err
		}
		if err := await(ctx, done, seq); err != nil {
			return nil, err
		}
		if i >= 0 {
			lat = append(lat, time.Since(start))
		}
	}
	return lat, nil
}

func await(ctx context.Context, ch <-chan string, seq string) error {
	timeout := time.After(10 * time.Second)
	for {
		select {
		case got := <-ch:
			if got == seq {
				return nil
			}
		case <-timeout:
			return fmt.Errorf("push %s did not arrive within 10s", seq)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
