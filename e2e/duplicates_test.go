package e2e

import (
	orderrecords "github.com/ticketsaga/saga/order-service/records"
	pointrecords "github.com/ticketsaga/saga/point-service/records"
	ticketrecords "github.com/ticketsaga/saga/ticket-service/records"

	"context"
	"maps"
	"net/http"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"

	"github.com/ticketsaga/saga/shared/event"
	"github.com/ticketsaga/saga/shared/outbox"
	"github.com/ticketsaga/saga/shared/saga"
)

// TestDuplicateEventsChangeNothing publishes a copy of every event of a
// completed saga (same data and attributes) and checks that nothing changes
// and that no service publishes a new event in response: a step that sees
// its input again sends what it stored (nothing records whether it went
// out), with the same event_id, and the next step absorbs it.
func TestDuplicateEventsChangeNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	user, ticket := uniq("dup"), uniq("dupt")
	stack.seedAccount(t, user, 5000)
	stack.seedTicket(t, ticket, 1000, 3)
	r := stack.buy(t, user, "", order(user, ticket, 1, 1000))
	mustStatus(t, r, http.StatusCreated)
	id := r.str("order_id")

	var copies []event.Message
	for _, src := range []struct{ collection, step string }{
		{orderrecords.Orders, orderrecords.StepStart}, {pointrecords.Sagas, pointrecords.StepConsume}, {ticketrecords.Sagas, ticketrecords.StepGrant},
	} {
		copies = append(copies, storedStep(t, src.collection, id, src.step))
	}

	tap := "tap-" + uniq("dup")
	tapName := "projects/" + stack.project + "/subscriptions/" + tap
	if _, err := stack.pubsub.SubscriptionAdminClient.CreateSubscription(ctx, &pubsubpb.Subscription{
		Name: tapName, Topic: "projects/" + stack.project + "/topics/" + stack.decl.Topic,
		Filter: `attributes.order_id = "` + id + `"`,
	}); err != nil {
		t.Fatal(err)
	}
	pub := stack.pubsub.Publisher(stack.decl.Topic)
	defer pub.Stop()
	for _, m := range copies {
		if _, err := pub.Publish(ctx, &pubsub.Message{Data: m.Data, Attributes: m.Attributes}).Get(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// Each copy is delivered, and so is what each step sends again down
	// the chain: started-order's copy makes point-service send
	// consumed-point again, and each consumed-point makes ticket-service
	// send granted-ticket again. With the saga's own deliveries, the
	// consumers see started-order 2 times, consumed-point 3, and
	// granted-ticket 4.
	consumer := map[saga.EventType]string{saga.StartedOrder: saga.PointService, saga.ConsumedPoint: saga.TicketService, saga.GrantedTicket: saga.OrderService}
	delivered := map[saga.EventType]int{saga.StartedOrder: 2, saga.ConsumedPoint: 3, saga.GrantedTicket: 4}
	for _, m := range copies {
		stack.deliveries.waitForCount(t, string(m.Type)+" copies at "+consumer[m.Type], delivered[m.Type], func(d delivery) bool {
			return d.Service == consumer[m.Type] && d.EventID == m.EventID
		})
	}

	// Every consumer publishes before it acks, and order-service (the
	// last) publishes nothing: whatever the copies caused is on the tap.
	seen := map[string]int{}
	for _, m := range pullAll(t, tapName) {
		// The emulator ignores the tap's filter: other tests' events
		// arrive too.
		if m.Attributes[saga.AttrOrderID] == id {
			seen[m.Attributes[saga.AttrEventID]]++
		}
	}
	want := map[string]int{}
	for _, m := range copies {
		want[m.EventID] = delivered[m.Type] - 1 // all but the saga's own
	}
	if !maps.Equal(seen, want) {
		t.Errorf("the topic carried %v (event id: count) after the copies, want %v: the copies and the stored events sent again, nothing new", seen, want)
	}
	if got := stack.balance(t, user); got != 4000 {
		t.Errorf("balance = %d, want 4000", got)
	}
	if got := stack.stock(t, ticket); got != 2 {
		t.Errorf("stock = %d, want 2", got)
	}
	if got := stack.owned(t, user)[ticket]; got != 1 {
		t.Errorf("owns %d, want 1", got)
	}
	g := stack.orderOf(t, user, "/orders/"+id)
	if g.str("status") != "completed" || len(historyTypes(g)) != 3 {
		t.Errorf("order after copies = %s", g.Raw)
	}
}

// storedStep returns the event a step stored, once it has.
func storedStep(t *testing.T, collection, orderID, step string) event.Message {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		snap, err := stack.fs.Collection(collection).Doc(orderID).Get(context.Background())
		if err != nil {
			t.Fatalf("%s/%s: %v", collection, orderID, err)
		}
		var d struct{ outbox.Outbox }
		if err := snap.DataTo(&d); err != nil {
			t.Fatal(err)
		}
		if m, ok := d.Steps[step]; ok {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s/%s step %s not stored within 10s: %+v", collection, orderID, step, d)
		}
		time.Sleep(20 * time.Millisecond) // polling Firestore for a condition
	}
}

// pullAll drains a pull subscription: it returns once a pull comes back
// empty.
func pullAll(t *testing.T, sub string) []*pubsubpb.PubsubMessage {
	t.Helper()
	ctx := context.Background()
	var out []*pubsubpb.PubsubMessage
	for {
		res, err := stack.pubsub.SubscriptionAdminClient.Pull(ctx, &pubsubpb.PullRequest{Subscription: sub, MaxMessages: 100, ReturnImmediately: true}) //nolint:staticcheck // a drain ends when the subscription is empty
		if err != nil {
			t.Fatalf("pull %s: %v", sub, err)
		}
		if len(res.ReceivedMessages) == 0 {
			return out
		}
		var ids []string
		for _, m := range res.ReceivedMessages {
			out = append(out, m.Message)
			ids = append(ids, m.AckId)
		}
		if err := stack.pubsub.SubscriptionAdminClient.Acknowledge(ctx, &pubsubpb.AcknowledgeRequest{Subscription: sub, AckIds: ids}); err != nil {
			t.Fatal(err)
		}
	}
}
