package infra

import (
	"testing"

	"github.com/ticketsaga/saga/shared/saga"
)

func TestDeclarationCoversEverySagaEvent(t *testing.T) {
	t.Parallel()
	p, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	consumers := map[saga.EventType]int{}
	for _, s := range p.Subscriptions {
		for _, et := range s.EventTypes {
			consumers[et]++
		}
	}
	// Every event someone reacts to has exactly one consuming subscription.
	for _, et := range []saga.EventType{saga.StartedOrder, saga.StoppedOrder, saga.ConsumedPoint, saga.FailedPoint,
		saga.RefundedPoint, saga.GrantedTicket, saga.FailedTicket, saga.CanceledTicket} {
		if consumers[et] != 1 {
			t.Errorf("%s has %d consuming subscriptions, want 1", et, consumers[et])
		}
	}
}

func TestFilter(t *testing.T) {
	t.Parallel()
	s := Subscription{Name: "point-events", EventTypes: []saga.EventType{saga.StartedOrder, saga.FailedTicket, saga.CanceledTicket}}
	want := `((attributes.event_type = "started-order" OR attributes.event_type = "failed-ticket" OR attributes.event_type = "canceled-ticket") AND NOT attributes:redrive_to) OR attributes.redrive_to = "point-events"`
	if got := s.Filter(); got != want {
		t.Fatalf("Filter() = %s, want %s", got, want)
	}
}
