// Package bootstrap creates the declared topics and subscriptions with the
// Pub/Sub API: against the emulator for `make run` and the tests. (The
// deploy uses gcloud on the same declaration.)
package bootstrap

import (
	"context"
	"fmt"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/ticketsaga/saga/infra"
)

// Apply creates the topic, the dead-letter topic with a subscription that
// holds dead letters, and every push subscription, pushing to
// baseURL[service] + push_path. Existing resources are left as they are.
func Apply(ctx context.Context, c *pubsub.Client, project string, decl infra.PubSub, baseURL map[string]string) error {
	topic := fmt.Sprintf("projects/%s/topics/%s", project, decl.Topic)
	dlTopic := fmt.Sprintf("projects/%s/topics/%s", project, decl.DeadLetterTopic)
	for _, t := range []string{topic, dlTopic} {
		if _, err := c.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: t}); err != nil && status.Code(err) != codes.AlreadyExists {
			return fmt.Errorf("create topic %s: %w", t, err)
		}
	}
	subs := []*pubsubpb.Subscription{{
		Name:               fmt.Sprintf("projects/%s/subscriptions/%s", project, decl.DeadLetterSubscription),
		Topic:              dlTopic,
		AckDeadlineSeconds: 60,
	}}
	for _, s := range decl.Subscriptions {
		base, ok := baseURL[s.Service]
		if !ok {
			return fmt.Errorf("subscription %s: no URL for %s", s.Name, s.Service)
		}
		subs = append(subs, &pubsubpb.Subscription{
			Name:               fmt.Sprintf("projects/%s/subscriptions/%s", project, s.Name),
			Topic:              topic,
			PushConfig:         &pubsubpb.PushConfig{PushEndpoint: base + s.PushPath},
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
