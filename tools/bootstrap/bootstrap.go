// Package bootstrap creates the declared schema, topics and subscriptions
// with the Pub/Sub API: against the emulator for `make run` and the tests.
// (The deploy uses gcloud on the same declaration.)
package bootstrap

import (
	"context"
	"fmt"
	"strings"

	"cloud.google.com/go/pubsub/v2"
	vkit "cloud.google.com/go/pubsub/v2/apiv1"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/ticketsaga/saga/infra"
)

// Apply creates the schema, the topic validating its messages against it,
// the dead-letter topic with a subscription that holds dead letters, and
// every push subscription, pushing to endpoints[subscription]
// (PushEndpoints, or the filtering relay's: tools/pushfilter).
// Existing resources are left as they are. The schema is created with a
// client of its own, on the emulator (PUBSUB_EMULATOR_HOST) as c is:
// pubsub.Client has no schema client.
func Apply(ctx context.Context, c *pubsub.Client, project string, decl infra.PubSub, endpoints map[string]string) error {
	topic := fmt.Sprintf("projects/%s/topics/%s", project, decl.Topic)
	dlTopic := fmt.Sprintf("projects/%s/topics/%s", project, decl.DeadLetterTopic)
	schema, err := createSchema(ctx, project, decl.Schema)
	if err != nil {
		return err
	}
	// Dead letters are kept as they failed, so their topic has no schema.
	for _, t := range []*pubsubpb.Topic{
		{Name: topic, SchemaSettings: &pubsubpb.SchemaSettings{Schema: schema,
			Encoding: pubsubpb.Encoding(pubsubpb.Encoding_value[strings.ToUpper(decl.Schema.Encoding)])}},
		{Name: dlTopic},
	} {
		if _, err := c.TopicAdminClient.CreateTopic(ctx, t); err != nil && status.Code(err) != codes.AlreadyExists {
			return fmt.Errorf("create topic %s: %w", t.Name, err)
		}
	}
	subs := []*pubsubpb.Subscription{{
		Name:               fmt.Sprintf("projects/%s/subscriptions/%s", project, decl.DeadLetterSubscription),
		Topic:              dlTopic,
		AckDeadlineSeconds: 60,
	}}
	for _, s := range decl.Subscriptions {
		endpoint, ok := endpoints[s.Name]
		if !ok {
			return fmt.Errorf("subscription %s: no push endpoint", s.Name)
		}
		subs = append(subs, &pubsubpb.Subscription{
			Name:               fmt.Sprintf("projects/%s/subscriptions/%s", project, s.Name),
			Topic:              topic,
			PushConfig:         &pubsubpb.PushConfig{PushEndpoint: endpoint},
			AckDeadlineSeconds: s.AckDeadlineSeconds,
			Filter:             s.Filter(),
			RetryPolicy: &pubsubpb.RetryPolicy{
				MinimumBackoff: durationpb.New(s.MinRetryDelay.Duration),
				MaximumBackoff: durationpb.New(s.MaxRetryDelay.Duration),
			},
			DeadLetterPolicy: &pubsubpb.DeadLetterPolicy{DeadLetterTopic: dlTopic, MaxDeliveryAttempts: s.MaxDeliveryAttempts},
		})
	}
	for _, sub := range subs {
		if _, err := c.SubscriptionAdminClient.CreateSubscription(ctx, sub); err != nil && status.Code(err) != codes.AlreadyExists {
			return fmt.Errorf("create subscription %s: %w", sub.Name, err)
		}
	}
	return nil
}

// PushEndpoints are the subscriptions' endpoints on the services
// themselves: baseURL[service] + push_path.
func PushEndpoints(decl infra.PubSub, baseURL map[string]string) map[string]string {
	out := map[string]string{}
	for _, s := range decl.Subscriptions {
		if base, ok := baseURL[s.Service]; ok {
			out[s.Name] = base + s.PushPath
		}
	}
	return out
}

// createSchema creates the declared schema unless it exists, and returns
// its name.
func createSchema(ctx context.Context, project string, s infra.Schema) (string, error) {
	sc, err := vkit.NewSchemaClient(ctx)
	if err != nil {
		return "", fmt.Errorf("schema client: %w", err)
	}
	defer func() { _ = sc.Close() }()
	name := fmt.Sprintf("projects/%s/schemas/%s", project, s.Name)
	if _, err := sc.CreateSchema(ctx, &pubsubpb.CreateSchemaRequest{Parent: "projects/" + project, SchemaId: s.Name,
		Schema: &pubsubpb.Schema{Type: pubsubpb.Schema_Type(pubsubpb.Schema_Type_value[strings.ToUpper(s.Type)]), Definition: s.Definition}}); err != nil && status.Code(err) != codes.AlreadyExists {
		return "", fmt.Errorf("create schema %s: %w", name, err)
	}
	return name, nil
}
