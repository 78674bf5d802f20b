package bootstrap_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ticketsaga/saga/infra"
	ordermem "github.com/ticketsaga/saga/order-service/memory"
	ordersvc "github.com/ticketsaga/saga/order-service/service"
	pointmem "github.com/ticketsaga/saga/point-service/memory"
	"github.com/ticketsaga/saga/shared/event"
	"github.com/ticketsaga/saga/shared/fault"
	"github.com/ticketsaga/saga/shared/outbox"
	"github.com/ticketsaga/saga/shared/saga"
	ticketmem "github.com/ticketsaga/saga/ticket-service/memory"
	"github.com/ticketsaga/saga/tools/bootstrap"
)

// topic is a fresh project on the Pub/Sub emulator, bootstrapped from the
// declaration, the publisher the services use on its topic, and a raw
// publish of data as it is.
func topic(t *testing.T) (infra.PubSub, *outbox.Publisher, func(data []byte) error) {
	t.Helper()
	if testing.Short() {
		t.Skip("an integration test on the Pub/Sub emulator: it runs in make test's integration phase")
	}
	if os.Getenv("PUBSUB_EMULATOR_HOST") == "" {
		t.Fatal("PUBSUB_EMULATOR_HOST is not set: run make test, which starts the emulators")
	}
	decl, err := infra.Load()
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	project := "schema-" + hex.EncodeToString(b)
	ctx := context.Background()
	c, err := pubsub.NewClient(ctx, project)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	// The push subscriptions need somewhere to push; nothing here reads it.
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	t.Cleanup(sink.Close)
	urls := map[string]string{saga.OrderService: sink.URL, saga.PointService: sink.URL, saga.TicketService: sink.URL}
	if err := bootstrap.Apply(ctx, c, project, decl, bootstrap.PushEndpoints(decl, urls)); err != nil {
		t.Fatal(err)
	}
	raw := c.Publisher(decl.Topic)
	t.Cleanup(raw.Stop)
	publish := func(data []byte) error {
		_, err := raw.Publish(ctx, &pubsub.Message{Data: data, Attributes: map[string]string{saga.AttrEventType: string(saga.StartedOrder)}}).Get(ctx)
		return err
	}
	return decl, outbox.NewPublisher(c, decl.Topic), publish
}

// TestSchemaRefusesMalformedEvents: the topic refuses, at publish, data
// that is not the envelope, and the refusal is permanent (a push that
// caused it is acked and logged, not retried; the event stays in the
// outbox).
func TestSchemaRefusesMalformedEvents(t *testing.T) {
	t.Parallel()
	_, pub, publishRaw := topic(t)
	ctx := context.Background()
	good, err := event.NewMessage(event.Envelope{ID: "o1", Order: &event.Order{UserID: "u", TicketID: "t", Quantity: 1, Price: 100}},
		saga.StartedOrder, saga.OrderService, "e1", "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.Publish(ctx, good); err != nil {
		t.Fatalf("a well-formed started-order was refused: %v", err)
	}
	edit := func(change func(e map[string]any)) string {
		var e map[string]any
		if err := json.Unmarshal(good.Data, &e); err != nil {
			t.Fatal(err)
		}
		change(e)
		out, _ := json.Marshal(e)
		return string(out)
	}
	order := func(e map[string]any) map[string]any { return e["order"].(map[string]any) }
	for name, data := range map[string]string{
		"missing id":             edit(func(e map[string]any) { delete(e, "id") }),
		"null id":                edit(func(e map[string]any) { e["id"] = nil }),
		"quantity as a string":   edit(func(e map[string]any) { order(e)["quantity"] = "1" }),
		"price beyond a long":    edit(func(e map[string]any) { order(e)["price"] = json.Number("9223372036854775808") }),
		"missing ticket section": edit(func(e map[string]any) { delete(e, "ticket") }),
		"history null":           edit(func(e map[string]any) { order(e)["history"] = nil }),
		"history an object":      edit(func(e map[string]any) { order(e)["history"] = map[string]any{} }),
		"record without reason": edit(func(e map[string]any) {
			delete(order(e)["history"].([]any)[0].(map[string]any), "reason")
		}),
		// What the services wrote before the schema: empty parts left out.
		"the older form": `{"id":"o1","order":{"user_id":"u","ticket_id":"t","quantity":1,"price":100,` +
			`"history":[{"event_type":"started-order","service":"order-service","at":"2026-01-01T00:00:00Z","event_id":"e1"}]}}`,
		"another shape": `{"order_id":"o1","status":"completed"}`,
		"empty object":  `{}`,
		"an array":      `[]`,
		"not JSON":      `nope`,
		"nothing":       ``,
	} {
		err := publishRaw([]byte(data))
		if status.Code(err) != codes.InvalidArgument || !fault.IsPermanent(err) {
			t.Errorf("%s: publish of %s = %v, want a permanent InvalidArgument", name, data, err)
		}
	}
	// A stored event of the older form: the services' publisher (a
	// redelivery's, a replay's) sends it upgraded.
	old := good
	old.Data = []byte(`{"id":"o1","order":{"user_id":"u","ticket_id":"t","quantity":1,"price":100}}`)
	if err := pub.Publish(ctx, old); err != nil {
		t.Errorf("the older form, through the services' publisher: %v", err)
	}
}

// TestSchemaAcceptsEveryEventTheServicesPublish runs the three services'
// own use cases (their in-memory adapters, as the protocol model does)
// through the happy path, both business failures and a timeout, and
// publishes every event they cause to the bootstrapped topic: each of the
// eight event types, as the services build it, matches the schema.
func TestSchemaAcceptsEveryEventTheServicesPublish(t *testing.T) {
	t.Parallel()
	decl, pub, _ := topic(t)
	ctx := context.Background()
	cfg, err := ordersvc.LoadSettings(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	now, ids := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), 0
	var queue []event.Message
	published := map[saga.EventType]int{}
	env := outbox.Env{
		Now:   func() time.Time { return now },
		NewID: func() string { ids++; return fmt.Sprintf("ev%d", ids) },
		Publish: func(ctx context.Context, m event.Message) error {
			if err := pub.Publish(ctx, m); err != nil {
				t.Errorf("%s refused by the topic: %v\n%s", m.Type, err, m.Data)
				return err
			}
			published[m.Type]++
			queue = append(queue, m)
			return nil
		},
	}
	order, point, ticket := ordermem.New(env, cfg), pointmem.New(env), ticketmem.New(env, 1)
	deliver := map[string]func(context.Context, event.Message) error{
		saga.OrderService: order.Deliver, saga.PointService: point.Deliver, saga.TicketService: ticket.Deliver}
	// run delivers what is published, as the subscriptions' filters route
	// it, until nothing is left; held events wait for a later run.
	var held []event.Message
	run := func(hold saga.EventType) {
		t.Helper()
		for len(queue) > 0 {
			m := queue[0]
			queue = queue[1:]
			if m.Type == hold {
				held = append(held, m)
				continue
			}
			for _, s := range decl.Subscriptions {
				if slices.Contains(s.EventTypes, m.Type) {
					if err := deliver[s.Service](ctx, m); err != nil {
						t.Fatalf("%s: %s: %v", s.Service, m.Type, err)
					}
				}
			}
		}
	}
	for _, u := range []struct {
		id      string
		balance int64
	}{{"alice", 1000}, {"bob", 10}, {"carol", 1000}, {"dave", 1000}} {
		if err := point.SetBalance(ctx, u.id, u.balance); err != nil {
			t.Fatal(err)
		}
	}
	if err := ticket.PutTicket(ctx, "concert", 100, 5); err != nil {
		t.Fatal(err)
	}
	if err := ticket.PutTicket(ctx, "gone", 100, 0); err != nil {
		t.Fatal(err)
	}
	place := func(user, ticketID string) {
		t.Helper()
		if _, err := order.Place(ctx, user, user+"-key", ticketID, 1, 100); err != nil {
			t.Fatal(err)
		}
	}
	place("alice", "concert") // started-order, consumed-point, granted-ticket
	run("")
	place("bob", "concert") // failed-point (insufficient points)
	run("")
	place("carol", "gone") // failed-ticket (sold out), refunded-point
	run("")
	place("dave", "concert") // the grant held back: the order times out
	run(saga.ConsumedPoint)
	now = now.Add(cfg.OrderTimeout + time.Second)
	if err := order.Sweep(ctx); err != nil { // stopped-order, canceled-ticket, refunded-point
		t.Fatal(err)
	}
	run("")
	queue = append(queue, held...) // the late grant fails: failed-ticket
	run("")

	for _, et := range []saga.EventType{saga.StartedOrder, saga.StoppedOrder, saga.ConsumedPoint, saga.FailedPoint,
		saga.RefundedPoint, saga.GrantedTicket, saga.FailedTicket, saga.CanceledTicket} {
		if published[et] == 0 {
			t.Errorf("no %s was published: the scenarios no longer cover it", et)
		}
	}
	t.Logf("accepted by the topic's schema: %v", published)
}
