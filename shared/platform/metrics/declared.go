package metrics

import (
	"context"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// A service's own instruments, for what only that service counts
// (order-service's outcomes, its sweeps, its long-polls): declared once, as
// package variables of the service, created on the process's meter when
// metrics start, and recording only while metrics are on and not paused.

// Counter is an int64 counter a service declares.
type Counter struct {
	name, unit, desc string
	c                atomic.Pointer[metric.Int64Counter]
}

// gauge is an observed value a service declares; read says whether there
// is one to observe now.
type gauge struct {
	name, unit, desc string
	read             func() (int64, bool)
}

var (
	declaredMu sync.Mutex
	counters   []*Counter
	gauges     []gauge
)

// NewCounter declares a counter named name (OpenTelemetry's dotted name),
// in unit, described by desc. Declare it at package level: a counter
// declared after metrics started records nothing.
func NewCounter(name, unit, desc string) *Counter {
	c := &Counter{name: name, unit: unit, desc: desc}
	declaredMu.Lock()
	counters = append(counters, c)
	declaredMu.Unlock()
	return c
}

// Add adds n to the counter with attrs, when metrics record.
func (c *Counter) Add(ctx context.Context, n int64, attrs ...attribute.KeyValue) {
	if paused.Load() {
		return
	}
	if p := c.c.Load(); p != nil {
		(*p).Add(ctx, n, metric.WithAttributes(attrs...))
	}
}

// NewGauge declares a gauge whose value read gives at each collection
// (nothing when it says there is none). Declare it at package level.
func NewGauge(name, unit, desc string, read func() (int64, bool)) {
	declaredMu.Lock()
	gauges = append(gauges, gauge{name: name, unit: unit, desc: desc, read: read})
	declaredMu.Unlock()
}

// createDeclared creates the declared instruments on m.
func createDeclared(m metric.Meter) error {
	declaredMu.Lock()
	defer declaredMu.Unlock()
	for _, c := range counters {
		ic, err := m.Int64Counter(c.name, metric.WithUnit(c.unit), metric.WithDescription(c.desc))
		if err != nil {
			return err
		}
		c.c.Store(&ic)
	}
	for _, g := range gauges {
		read := g.read
		if _, err := m.Int64ObservableGauge(g.name, metric.WithUnit(g.unit), metric.WithDescription(g.desc),
			metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
				if v, ok := read(); ok {
					o.Observe(v)
				}
				return nil
			})); err != nil {
			return err
		}
	}
	return nil
}

// dropDeclared stops the declared counters recording, when metrics stop.
func dropDeclared() {
	declaredMu.Lock()
	defer declaredMu.Unlock()
	for _, c := range counters {
		c.c.Store(nil)
	}
}
