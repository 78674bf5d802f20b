package service

import (
	"context"
	"time"

	"github.com/ticketsaga/saga/order-service/internal/app"
	"github.com/ticketsaga/saga/order-service/internal/order"
	"github.com/ticketsaga/saga/order-service/internal/ordermetrics"
	"github.com/ticketsaga/saga/shared/event"
	"github.com/ticketsaga/saga/shared/platform/metrics"
	"github.com/ticketsaga/saga/shared/saga"
)

// observer hands the use cases' outcomes to the metrics.
type observer struct{}

var _ app.Observer = observer{}

func (observer) Ended(ctx context.Context, o order.Order) {
	ordermetrics.SagaEnded(ctx, string(o.Status), o.Reason)
}

func (observer) Swept(ctx context.Context, rep app.SweepReport) {
	ordermetrics.Swept(ctx, ordermetrics.Sweep{TimedOut: rep.Stopped, Replayed: rep.Replayed, GaveUp: rep.GaveUp, Failed: rep.Failed})
}

// timedStore times order-service's first step, the start: the order's
// write and the publish of its started-order (its other step, the settle,
// is timed at the push endpoint like every service's).
type timedStore struct{ app.Store }

func (s timedStore) Create(ctx context.Context, o order.Order, fingerprint string, start event.Message) (app.Placed, error) {
	t := time.Now()
	p, err := s.Store.Create(ctx, o, fingerprint, start)
	if err != nil || p.Created {
		// A repeat of a placed order (same Idempotency-Key) ran no step.
		metrics.StepDone(ctx, saga.OrderService, app.StepStart, time.Since(t), err)
	}
	return p, err
}
