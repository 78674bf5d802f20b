// Package chaos injects the faults Pub/Sub is allowed to cause: it
// redelivers every saga event extra times, after random delays, with the
// same data and attributes. The tests and `CHAOS_DUPLICATES=1 make run` use
// it.
package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"github.com/ticketsaga/saga/shared/saga"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Duplicator copies every saga event 1 to MaxCopies times.
type Duplicator struct {
	injected atomic.Int64
	pending  sync.WaitGroup
	seen     sync.Map // event_id: each event is copied once, never its copies
	errs     atomic.Int64
	stop     func()
}

// Start taps topic with a pull subscription named tap and copies every
// event 1 to maxCopies times after random delays of up to maxDelay.
func Start(ctx context.Context, c *pubsub.Client, project, topic, tap string, maxCopies int, maxDelay time.Duration) (*Duplicator, error) {
	sub := fmt.Sprintf("projects/%s/subscriptions/%s", project, tap)
	if _, err := c.SubscriptionAdminClient.CreateSubscription(ctx, &pubsubpb.Subscription{
		Name: sub, Topic: fmt.Sprintf("projects/%s/topics/%s", project, topic), AckDeadlineSeconds: 60,
	}); err != nil && status.Code(err) != codes.AlreadyExists {
		return nil, fmt.Errorf("create tap %s: %w", sub, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	d := &Duplicator{}
	pub := c.Publisher(topic)
	pub.PublishSettings.CountThreshold = 1
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = c.Subscriber(sub).Receive(ctx, func(_ context.Context, m *pubsub.Message) {
			m.Ack()
			if _, dup := d.seen.LoadOrStore(m.Attributes[saga.AttrEventID], true); dup {
				return
			}
			for range 1 + rand.IntN(maxCopies) {
				d.pending.Add(1)
				d.injected.Add(1)
				time.AfterFunc(rand.N(maxDelay), func() {
					defer d.pending.Done()
					pctx, pcancel := context.WithTimeout(context.Background(), 10*time.Second)
					defer pcancel()
					if _, err := pub.Publish(pctx, &pubsub.Message{Data: m.Data, Attributes: m.Attributes}).Get(pctx); err != nil {
						d.errs.Add(1)
					}
				})
			}
		})
	}()
	d.stop = func() { cancel(); <-done; d.pending.Wait(); pub.Stop() }
	return d, nil
}

// Injected is how many copies were scheduled.
func (d *Duplicator) Injected() int64 { return d.injected.Load() }

// Failed is how many copies could not be published.
func (d *Duplicator) Failed() int64 { return d.errs.Load() }

// Drain waits until every scheduled copy was published.
func (d *Duplicator) Drain() { d.pending.Wait() }

// Stop stops tapping and waits for the scheduled copies.
func (d *Duplicator) Stop() { d.stop() }
