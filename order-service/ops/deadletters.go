package ops

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"cloud.google.com/go/firestore"
	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"

	"github.com/ticketsaga/saga/order-service/records"
	"github.com/ticketsaga/saga/shared/deadletter"
	"github.com/ticketsaga/saga/shared/event"
	"github.com/ticketsaga/saga/shared/saga"
)

// Pub/Sub sets this attribute on what it dead-letters (the emulator may
// not); the failure records say it otherwise.
const attrSourceSubscription = "CloudPubSubDeadLetterSourceSubscription"

// DeadLetter is one message held on the dead-letter topic.
type DeadLetter struct {
	ackID        string
	Subscription string // the subscription it failed on
	Reason       string // the last error recorded for it
	Attempts     int64
	EventType    string
	EventID      string
	OrderID      string
	// OrderStatus is the order's status now: once it has ended, the
	// self-healing replays did what the dead letter could not, and the
	// dead letter needs nothing more.
	OrderStatus string
	data        []byte
	attributes  map[string]string
}

// Routing is what the dead letters need of the Pub/Sub declaration
// (infra/pubsub.json): the saga topic, the dead-letter hold subscription,
// and which event types each subscription consumes.
type Routing struct {
	Topic     string
	Hold      string
	Consumers map[string][]saga.EventType
}

// ParseConsumers reads the consumers of each subscription as the tools
// pass them to order-service (SAGA_SUBSCRIPTIONS):
// "point-events=started-order|failed-ticket order-events=...".
func ParseConsumers(s string) (map[string][]saga.EventType, error) {
	out := map[string][]saga.EventType{}
	for part := range strings.FieldsSeq(s) {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		name, types, ok := strings.Cut(part, "=")
		if !ok || !saga.ValidID(name) || types == "" {
			return nil, fmt.Errorf("subscription %q: want name=event-type|event-type", part)
		}
		for t := range strings.SplitSeq(types, "|") {
			if !saga.EventType(t).Valid() {
				return nil, fmt.Errorf("subscription %s: unknown event type %q", name, t)
			}
			out[name] = append(out[name], saga.EventType(t))
		}
	}
	return out, nil
}

// DeadLetters reads the dead-letter hold subscription.
type DeadLetters struct {
	PubSub  *pubsub.Client
	FS      *firestore.Client
	Project string
	Routing Routing
}

func (d DeadLetters) holdSub() string {
	return fmt.Sprintf("projects/%s/subscriptions/%s", d.Project, d.Routing.Hold)
}

// MaxListed bounds List: past it, a list would outlast the hold's ack
// deadline and the request.
const MaxListed = 1000

// pull takes the held messages, up to limit (0: all); they stay leased
// until released or acked.
func (d DeadLetters) pull(ctx context.Context, limit int) ([]DeadLetter, error) {
	var out []DeadLetter
	for limit == 0 || len(out) < limit {
		// ReturnImmediately is deprecated but honoured: a drain of a hold
		// subscription must end when it is empty, not wait for more.
		batch := int32(500)
		if limit > 0 {
			batch = min(batch, int32(limit-len(out)))
		}
		res, err := d.PubSub.SubscriptionAdminClient.Pull(ctx, &pubsubpb.PullRequest{Subscription: d.holdSub(), MaxMessages: batch, ReturnImmediately: true}) //nolint:staticcheck // see above
		if err != nil {
			return out, fmt.Errorf("pull dead letters: %w", err)
		}
		if len(res.ReceivedMessages) == 0 {
			return out, nil
		}
		for _, rm := range res.ReceivedMessages {
			m := rm.Message
			dl := DeadLetter{ackID: rm.AckId, Subscription: lastSegment(m.Attributes[attrSourceSubscription]),
				EventType: m.Attributes[saga.AttrEventType], EventID: m.Attributes[saga.AttrEventID],
				OrderID: m.Attributes[saga.AttrOrderID], data: m.Data, attributes: m.Attributes}
			if err := d.explain(ctx, &dl); err != nil {
				return out, err
			}
			out = append(out, dl)
		}
	}
	return out, nil
}

// explain finds the subscription and the reason in the failure records.
func (d DeadLetters) explain(ctx context.Context, dl *DeadLetter) error {
	q := d.FS.Collection(deadletter.Collection).Where(deadletter.FieldEventID, "==", dl.EventID)
	if dl.Subscription != "" {
		q = q.Where(deadletter.FieldSubscription, "==", dl.Subscription)
	}
	snaps, err := q.Documents(ctx).GetAll()
	if err != nil {
		return fmt.Errorf("read failure records of %s: %w", dl.EventID, err)
	}
	// The emulator does not say which subscription dead-lettered it: the
	// one subscription that consumes this event type did.
	for _, snap := range snaps {
		var f deadletter.Failure
		if err := snap.DataTo(&f); err != nil {
			continue
		}
		if dl.Subscription == "" || f.Subscription == dl.Subscription {
			if dl.Subscription == "" && !d.consumes(f.Subscription, dl.EventType) {
				continue
			}
			dl.Subscription, dl.Reason, dl.Attempts = f.Subscription, f.Error, f.Attempts
		}
	}
	if dl.Subscription == "" {
		for name, types := range d.Routing.Consumers {
			if slices.Contains(types, saga.EventType(dl.EventType)) {
				dl.Subscription = name
			}
		}
	}
	if dl.Reason == "" {
		dl.Reason = "(no failure recorded)"
	}
	return nil
}

func (d DeadLetters) consumes(sub, eventType string) bool {
	return slices.Contains(d.Routing.Consumers[sub], saga.EventType(eventType))
}

func (d DeadLetters) release(ctx context.Context, ackIDs []string) error {
	if len(ackIDs) == 0 {
		return nil
	}
	if err := d.PubSub.SubscriptionAdminClient.ModifyAckDeadline(ctx, &pubsubpb.ModifyAckDeadlineRequest{
		Subscription: d.holdSub(), AckIds: ackIDs, AckDeadlineSeconds: 0}); err != nil {
		return fmt.Errorf("release dead letters: %w", err)
	}
	return nil
}

// List returns the held dead letters, at most MaxListed, with the status
// of their orders now, and leaves them held. While it reads them, nobody
// else sees them (they are leased to it): a list or a redrive at the same
// moment finds fewer.
func (d DeadLetters) List(ctx context.Context) ([]DeadLetter, error) {
	dls, err := d.pull(ctx, MaxListed)
	var ids []string
	for _, dl := range dls {
		ids = append(ids, dl.ackID)
	}
	if rerr := d.release(ctx, ids); err == nil {
		err = rerr
	}
	if err != nil {
		return dls, err
	}
	status := map[string]string{}
	for i, dl := range dls {
		st, ok := status[dl.OrderID]
		if !ok && dl.OrderID != "" {
			o, err := records.Read(ctx, d.FS, dl.OrderID)
			switch {
			case err != nil:
				st = "unreadable"
			case o == nil:
				st = "unknown"
			default:
				st = string(o.Status)
			}
			status[dl.OrderID] = st
		}
		dls[i].OrderStatus = st
	}
	return dls, nil
}

// Ended reports whether the dead letter's order has ended: nothing is left
// to do for it.
func (dl DeadLetter) Ended() bool { return records.Status(dl.OrderStatus).Terminal() }

// Group is dead letters with the same subscription and reason.
type Group struct {
	Subscription string
	Reason       string
	Count        int
	// Open: dead letters whose order has not ended; the others were
	// healed by the timeout sweep's replays and need nothing.
	Open     int
	EventIDs []string
}

// GroupBy groups dead letters by subscription and reason.
func GroupBy(dls []DeadLetter) []Group {
	m := map[[2]string]*Group{}
	for _, dl := range dls {
		k := [2]string{dl.Subscription, dl.Reason}
		if m[k] == nil {
			m[k] = &Group{Subscription: dl.Subscription, Reason: dl.Reason}
		}
		m[k].Count++
		if !dl.Ended() {
			m[k].Open++
		}
		m[k].EventIDs = append(m[k].EventIDs, dl.EventID)
	}
	var out []Group
	for _, k := range slices.SortedFunc(maps.Keys(m), func(a, b [2]string) int {
		if a[0] != b[0] {
			return strings.Compare(a[0], b[0])
		}
		return strings.Compare(a[1], b[1])
	}) {
		out = append(out, *m[k])
	}
	return out
}

// Redrive re-publishes the dead letters that match, each addressed to the
// one subscription it failed on (attribute redrive_to), then removes them
// from the hold. The rest stay held.
func (d DeadLetters) Redrive(ctx context.Context, match func(DeadLetter) bool) (int, error) {
	dls, err := d.pull(ctx, 0)
	if err != nil {
		return 0, err
	}
	pub := d.PubSub.Publisher(d.Routing.Topic)
	defer pub.Stop()
	var done, keep []string
	for _, dl := range dls {
		if !match(dl) || dl.Subscription == "" {
			keep = append(keep, dl.ackID)
			continue
		}
		attrs := map[string]string{}
		for k, v := range dl.attributes {
			if k != attrSourceSubscription && !isPubSubAttr(k) {
				attrs[k] = v
			}
		}
		attrs[saga.AttrRedriveTo] = dl.Subscription
		// A dead letter from before the topic had its schema is upgraded,
		// else the topic would refuse it.
		if _, err := pub.Publish(ctx, &pubsub.Message{Data: event.Upgrade(dl.data), Attributes: attrs}).Get(ctx); err != nil {
			keep = append(keep, dl.ackID)
			_ = d.release(ctx, keep)
			return len(done), fmt.Errorf("redrive %s to %s: %w", dl.EventID, dl.Subscription, err)
		}
		done = append(done, dl.ackID)
	}
	if len(done) > 0 {
		if err := d.PubSub.SubscriptionAdminClient.Acknowledge(ctx, &pubsubpb.AcknowledgeRequest{Subscription: d.holdSub(), AckIds: done}); err != nil {
			return 0, fmt.Errorf("remove redriven dead letters: %w", err)
		}
	}
	return len(done), d.release(ctx, keep)
}

func isPubSubAttr(k string) bool { return strings.HasPrefix(k, "CloudPubSub") }

func lastSegment(s string) string { return s[strings.LastIndexByte(s, '/')+1:] }
