// Package ordermetrics is what only order-service counts: orders that
// ended, what its timeout sweep and its reconciliation did, and the
// long-polls it holds. The instruments are declared on the platform's
// metrics (shared/platform/metrics), which every service shares.
package ordermetrics

import (
	"context"
	"slices"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"

	"github.com/ticketsaga/saga/shared/platform/metrics"
	"github.com/ticketsaga/saga/shared/saga"
)

// Instrument names, as OpenTelemetry names them (docs/operations.md has
// them as the Prometheus text writes them).
const (
	NameSagasEnded    = "saga.orders.ended"       // counter; outcome, reason
	NameLongPolls     = "saga.long_polls"         // gauge
	NameLongPollLimit = "saga.long_polls.limit"   // gauge
	NameSweptOrders   = "saga.sweep.orders"       // counter; result
	NameReconcileRuns = "saga.reconcile.runs"     // counter; result
	NameFindings      = "saga.reconcile.findings" // counter; kind
	NameRepairs       = "saga.reconcile.repairs"  // counter
)

var (
	ended    = metrics.NewCounter(NameSagasEnded, "{order}", "Orders that reached a terminal state, by outcome (completed, failed, cancelled) and reason.")
	swept    = metrics.NewCounter(NameSweptOrders, "{order}", "What the timeout sweep did to orders: timed_out (stopped), replayed, gave_up, failed.")
	runs     = metrics.NewCounter(NameReconcileRuns, "{run}", "Reconciliation runs, by result (done, failed).")
	findings = metrics.NewCounter(NameFindings, "{finding}", "Reconciliation findings, by kind (inconsistent, unfinished, unreadable).")
	repairs  = metrics.NewCounter(NameRepairs, "{finding}", "Findings the reconciliation repaired by re-publishing an event.")
)

// LongPolls is the long-polls this instance holds now, counted whether or
// not metrics are exported (the cap needs it); LongPollLimit is
// LONG_POLL_MAX, exported beside it so that an alert on "near the cap"
// needs no copy of the setting.
var LongPolls, LongPollLimit atomic.Int64

func init() {
	metrics.NewGauge(NameLongPolls, "{request}", "Long-polls order-service holds now.", func() (int64, bool) {
		return LongPolls.Load(), LongPollLimit.Load() > 0
	})
	metrics.NewGauge(NameLongPollLimit, "{request}", "Long-polls one order-service instance holds at most (LONG_POLL_MAX).", func() (int64, bool) {
		v := LongPollLimit.Load()
		return v, v > 0
	})
}

// SagaEnded counts an order that became terminal: outcome is its status
// (completed, failed, cancelled), reason why it failed ("" when
// completed).
func SagaEnded(ctx context.Context, outcome, reason string) {
	attrs := []attribute.KeyValue{attribute.String("outcome", known(outcome, "completed", "failed", "cancelled"))}
	if reason != "" {
		attrs = append(attrs, attribute.String("reason", known(reason, saga.ReasonInsufficientPoints, saga.ReasonUnknownAccount,
			saga.ReasonSoldOut, saga.ReasonUnknownTicket, saga.ReasonPriceMismatch, saga.ReasonTimeout)))
	}
	ended.Add(ctx, 1, attrs...)
}

// Sweep is what one timeout sweep did to orders.
type Sweep struct{ TimedOut, Replayed, GaveUp, Failed int }

// Swept counts what a timeout sweep did.
func Swept(ctx context.Context, s Sweep) {
	for result, n := range map[string]int{"timed_out": s.TimedOut, "replayed": s.Replayed, "gave_up": s.GaveUp, "failed": s.Failed} {
		if n > 0 {
			swept.Add(ctx, int64(n), attribute.String("result", result))
		}
	}
}

// Reconciliation is what one reconciliation run found.
type Reconciliation struct {
	Failed                               bool
	Inconsistent, Unfinished, Unreadable int
	Repaired                             int
}

// Reconciled counts a reconciliation run and, when it finished, its
// findings (a failed run's are counted when the next run resumes it and
// finishes).
func Reconciled(ctx context.Context, r Reconciliation) {
	if r.Failed {
		runs.Add(ctx, 1, attribute.String("result", "failed"))
		return
	}
	runs.Add(ctx, 1, attribute.String("result", "done"))
	for kind, n := range map[string]int{"inconsistent": r.Inconsistent, "unfinished": r.Unfinished, "unreadable": r.Unreadable} {
		if n > 0 {
			findings.Add(ctx, int64(n), attribute.String("kind", kind))
		}
	}
	if r.Repaired > 0 {
		repairs.Add(ctx, int64(r.Repaired))
	}
}

// known is v when it is one of vs, else "other": a label's values are
// bounded.
func known(v string, vs ...string) string {
	if slices.Contains(vs, v) {
		return v
	}
	return "other"
}
