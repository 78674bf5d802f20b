package outbox

import (
	"context"

	"github.com/ticketsaga/saga/shared/event"
	"github.com/ticketsaga/saga/shared/platform/telemetry"
)

// stamp stores the trace context of ctx's span (the step's) in step's
// event msg, in the same Pub/Sub attributes a publish carries it in. A
// redelivery that publishes the event after a crash, or a replay long
// after, then still makes its publish a child of the step, in the saga's
// trace.
func (o *Outbox) stamp(ctx context.Context, step string, msg *event.Message) {
	attrs := telemetry.Inject(ctx, msg.Attributes)
	if len(attrs) == len(msg.Attributes) {
		return // tracing is off, or ctx has no span
	}
	msg.Attributes = attrs
	o.Steps[step] = *msg
}
