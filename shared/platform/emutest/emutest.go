// Package emutest gives adapter tests a fresh project on the emulators that
// `make test` starts: a Firestore client, a Pub/Sub topic with a pull
// subscription that sees everything published, and an outbox. In -short
// mode (the unit tests) such a test is skipped; it runs in make test's
// integration phase, where a missing emulator fails it.
package emutest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"cloud.google.com/go/firestore"
	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"

	"github.com/ticketsaga/saga/shared/outbox"
	"github.com/ticketsaga/saga/shared/platform/metrics"
)

// Project is a fresh project on the emulators.
type Project struct {
	ID        string
	FS        *firestore.Client
	PubSub    *pubsub.Client
	Topic     string // full name
	Tap       string // a pull subscription on Topic
	Publisher *outbox.Publisher
}

// New returns a fresh project, closed when the test ends.
func New(t *testing.T) *Project {
	t.Helper()
	if testing.Short() {
		t.Skip("an adapter test on the emulators: it runs in make test's integration phase")
	}
	for _, v := range []string{"FIRESTORE_EMULATOR_HOST", "PUBSUB_EMULATOR_HOST"} {
		if os.Getenv(v) == "" {
			t.Fatalf("%s is not set: run make test, which starts the emulators", v)
		}
	}
	ctx := context.Background()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	p := &Project{ID: "adapter-" + hex.EncodeToString(b)}
	var err error
	// The services' own client options: counted calls.
	opts, err := metrics.FirestoreOptions(os.Getenv("FIRESTORE_EMULATOR_HOST"))
	if err != nil {
		t.Fatal(err)
	}
	if p.FS, err = firestore.NewClient(ctx, p.ID, opts...); err != nil {
		t.Fatal(err)
	}
	if p.PubSub, err = pubsub.NewClient(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.FS.Close(); p.PubSub.Close() })
	p.Topic, p.Tap = "projects/"+p.ID+"/topics/saga-events", "projects/"+p.ID+"/subscriptions/tap"
	if _, err := p.PubSub.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: p.Topic}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.PubSub.SubscriptionAdminClient.CreateSubscription(ctx, &pubsubpb.Subscription{Name: p.Tap, Topic: p.Topic, AckDeadlineSeconds: 60}); err != nil {
		t.Fatal(err)
	}
	p.Publisher = outbox.NewPublisher(p.PubSub, p.Topic)
	return p
}

// Outbox returns an outbox on collection for service.
func (p *Project) Outbox(collection, service string) *outbox.Steps {
	return &outbox.Steps{FS: p.FS, Collection: collection, Service: service, Publisher: p.Publisher,
		Now: time.Now}
}

// Published returns the messages published since the last call (it waits
// briefly for them to arrive), and acks them.
func (p *Project) Published(t *testing.T) []*pubsubpb.PubsubMessage {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var out []*pubsubpb.PubsubMessage
	for {
		res, err := p.PubSub.SubscriptionAdminClient.Pull(ctx, &pubsubpb.PullRequest{Subscription: p.Tap, MaxMessages: 100})
		if err != nil || len(res.ReceivedMessages) == 0 {
			return out // the deadline ends the wait for more
		}
		var ids []string
		for _, m := range res.ReceivedMessages {
			out = append(out, m.Message)
			ids = append(ids, m.AckId)
		}
		if err := p.PubSub.SubscriptionAdminClient.Acknowledge(context.Background(), &pubsubpb.AcknowledgeRequest{Subscription: p.Tap, AckIds: ids}); err != nil {
			t.Fatal(err)
		}
		ctx2, cancel2 := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel2()
		ctx = ctx2
	}
}
