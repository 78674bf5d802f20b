// Package deadletter keeps, for operators, why push deliveries failed:
// Pub/Sub's dead-letter topic keeps the message, this keeps the reason, by
// subscription and event.
package deadletter

import (
	"context"
	"fmt"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/ticketsaga/saga/shared/push"
	"github.com/ticketsaga/saga/shared/saga"
)

// Collection holds one failure record per subscription and event.
const Collection = "push_failures"

// Retention is how long a failure record is kept after the last failed
// delivery it counts: Firestore's TTL policy on expire_at deletes it then
// (infra/indexes.json). The dead letter itself is held seven days.
const Retention = 30 * 24 * time.Hour

// Fields of a Failure that queries name.
const (
	FieldSubscription = "subscription"
	FieldEventID      = "event_id"
)

// Failure is why one event keeps failing on one subscription.
type Failure struct {
	Subscription string    `firestore:"subscription"`
	EventID      string    `firestore:"event_id"`
	EventType    string    `firestore:"event_type"`
	OrderID      string    `firestore:"order_id"`
	Error        string    `firestore:"error"`
	Attempts     int64     `firestore:"attempts"`
	LastAt       time.Time `firestore:"last_at"`
}

// DocID names the failure record of event eventID on subscription sub.
func DocID(sub, eventID string) string { return sub + "~" + eventID }

// Recorder writes failure records.
type Recorder struct {
	FS  *firestore.Client
	Now func() time.Time
}

var _ push.FailureRecorder = Recorder{}

// RecordFailure counts one more failed delivery of m and keeps its error.
func (r Recorder) RecordFailure(ctx context.Context, m push.Message, cause error) error {
	eventID := m.Attributes[saga.AttrEventID]
	if eventID == "" {
		eventID = "message-" + m.ID
	}
	sub := m.SubscriptionName()
	_, err := r.FS.Collection(Collection).Doc(DocID(sub, eventID)).Set(ctx, map[string]any{
		FieldSubscription: sub,
		FieldEventID:      eventID,
		"event_type":      m.Attributes[saga.AttrEventType],
		"order_id":        m.Attributes[saga.AttrOrderID],
		"error":           cause.Error(),
		"attempts":        firestore.Increment(1),
		"last_at":         r.Now().UTC(),
		"expire_at":       r.Now().UTC().Add(Retention),
	}, firestore.MergeAll)
	if err != nil {
		return fmt.Errorf("record failure of %s on %s: %w", eventID, sub, err)
	}
	return nil
}
