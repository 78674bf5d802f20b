// Package gcp opens the Firestore and Pub/Sub clients a service reuses for
// its whole life. Against the emulators, FIRESTORE_EMULATOR_HOST and
// PUBSUB_EMULATOR_HOST redirect them; the client libraries read those.
package gcp

import (
	"context"
	"fmt"

	"cloud.google.com/go/firestore"
	"cloud.google.com/go/pubsub/v2"

	"github.com/ticketsaga/saga/shared/config"
	"github.com/ticketsaga/saga/shared/metrics"
	"github.com/ticketsaga/saga/shared/outbox"
)

// Clients are a service's long-lived connections.
type Clients struct {
	Firestore *firestore.Client
	PubSub    *pubsub.Client
	Publisher *outbox.Publisher
}

// Connect opens the clients for cfg.
func Connect(ctx context.Context, cfg config.Config) (*Clients, error) {
	opts, err := metrics.FirestoreOptions(cfg.FirestoreEmulatorHost)
	if err != nil {
		return nil, err
	}
	fs, err := firestore.NewClient(ctx, cfg.ProjectID, opts...)
	if err != nil {
		return nil, fmt.Errorf("firestore client for %s: %w", cfg.ProjectID, err)
	}
	ps, err := pubsub.NewClient(ctx, cfg.ProjectID)
	if err != nil {
		fs.Close()
		return nil, fmt.Errorf("pubsub client for %s: %w", cfg.ProjectID, err)
	}
	return &Clients{Firestore: fs, PubSub: ps, Publisher: outbox.NewPublisher(ps, cfg.Topic)}, nil
}

// Close closes the clients.
func (c *Clients) Close() {
	c.PubSub.Close()
	c.Firestore.Close()
}
