package app

import "testing"

// TestEverySettlingEventHasItsSender: settle checks who sent each event
// its table routes to it; an event type added to the table without its
// sender would be taken for poison.
func TestEverySettlingEventHasItsSender(t *testing.T) {
	t.Parallel()
	for typ := range Table {
		if settlers[typ] == "" {
			t.Errorf("%s settles orders, but no service is named as its sender", typ)
		}
	}
	if len(settlers) != len(Table) {
		t.Errorf("senders named for %d event types, the table routes %d", len(settlers), len(Table))
	}
}
