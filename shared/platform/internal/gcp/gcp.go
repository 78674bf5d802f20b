// Package gcp opens the Firestore and Pub/Sub clients a service reuses for
// its whole life. Against the emulators, FIRESTORE_EMULATOR_HOST and
// PUBSUB_EMULATOR_HOST redirect them; the client libraries read those.
package gcp

import (
	"context"
	"fmt"

	"cloud.google.com/go/firestore"
	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ticketsaga/saga/shared/outbox"
	"github.com/ticketsaga/saga/shared/platform/config"
	"github.com/ticketsaga/saga/shared/platform/metrics"
)

// Clients are a service's long-lived connections.
type Clients struct {
	Firestore *firestore.Client
	PubSub    *pubsub.Client
	Publisher *outbox.Publisher
	topic     string
}

// Ping checks that the clients can serve: Firestore answers, and the saga
// topic exists (so an event published now reaches its subscriptions, which
// the bootstrap and the deploy create before the topic is used). It costs
// one document read and one topic lookup.
func (c *Clients) Ping(ctx context.Context) error {
	if _, err := c.Firestore.Collection("health").Doc("ping").Get(ctx); err != nil && status.Code(err) != codes.NotFound {
		return fmt.Errorf("firestore: %w", err)
	}
	if _, err := c.PubSub.TopicAdminClient.GetTopic(ctx, &pubsubpb.GetTopicRequest{Topic: c.topic}); err != nil {
		return fmt.Errorf("pub/sub topic %s: %w", c.topic, err)
	}
	return nil
}

// window is the clients' fixed HTTP/2 flow-control window. Setting it turns
// off gRPC's bandwidth-delay probing, a ping and its answer after each
// response, which only pays for bulk transfers: saga calls carry a few KiB.
const window = 4 << 20

// dialOptions are the gRPC options of both clients.
func dialOptions() []grpc.DialOption {
	return []grpc.DialOption{grpc.WithInitialWindowSize(window), grpc.WithInitialConnWindowSize(window)}
}

// Connect opens the clients for cfg. Their gRPC-level OpenTelemetry
// instrumentation is off: a span for every RPC costs CPU on every call.
// The libraries' own spans go to OpenTelemetry's global provider, which
// shared/platform/telemetry leaves a no-op: the saga's trace holds its own spans.
func Connect(ctx context.Context, cfg config.Common) (*Clients, error) {
	dial := dialOptions()
	opts, err := metrics.FirestoreOptions(cfg.FirestoreEmulatorHost, dial...)
	if err != nil {
		return nil, err
	}
	fs, err := firestore.NewClient(ctx, cfg.ProjectID, append(opts, option.WithTelemetryDisabled())...)
	if err != nil {
		return nil, fmt.Errorf("firestore client for %s: %w", cfg.ProjectID, err)
	}
	psOpts := []option.ClientOption{option.WithTelemetryDisabled()}
	for _, d := range dial {
		psOpts = append(psOpts, option.WithGRPCDialOption(d))
	}
	// The outbox publishes through the raw API and traces each publish
	// itself, with the client library's own carrier (googclient_
	// attributes), so the library's tracing and per-RPC spans stay off.
	ps, err := pubsub.NewClient(ctx, cfg.ProjectID, psOpts...)
	if err != nil {
		fs.Close()
		return nil, fmt.Errorf("pubsub client for %s: %w", cfg.ProjectID, err)
	}
	return &Clients{Firestore: fs, PubSub: ps, Publisher: outbox.NewPublisher(ps, cfg.Topic),
		topic: "projects/" + cfg.ProjectID + "/topics/" + cfg.Topic}, nil
}

// Close closes the clients.
func (c *Clients) Close() {
	c.PubSub.Close()
	c.Firestore.Close()
}
