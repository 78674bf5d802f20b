package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ticketsaga/saga/shared/event"
	"github.com/ticketsaga/saga/shared/platform/metrics"
	"github.com/ticketsaga/saga/shared/push"
	"github.com/ticketsaga/saga/shared/saga"
	"github.com/ticketsaga/saga/tools/loadgen"
)

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func pct(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(p * float64(len(s)-1))
	return s[i]
}

// Sequential is one order at a time on a warm stack.
//
// Each order starts after a random pause of 0–200 ms, as the floor's
// samples do, so that it meets the emulator's push loops at a random point
// of their 100 ms cycle. Back to back, each order would start right after
// the previous one's last push, always at the same point of every
// subscription's cycle: the run then measures how the loops happen to be
// aligned (a whole saga inside one cycle, ~100 ms, or spread over two,
// ~200 ms, for the whole run), not the saga. BackToBackP50Ms shows that.
//
// The three subscriptions' loops keep their alignment to one another for
// many sagas, and it sets the second and third hops. So the orders come in
// groups, each after a second of concurrent orders that leaves the loops in
// a new alignment: the p50 is over several alignments, as the floor's
// samples are over the whole cycle.
type Sequential struct {
	Orders           int     `json:"orders"`
	P50Ms            float64 `json:"p50_ms"`
	P95Ms            float64 `json:"p95_ms"`
	P99Ms            float64 `json:"p99_ms"`
	RatioToThreeHops float64 `json:"p50_ratio_to_three_hop_floor"`
	RatioToChain     float64 `json:"p50_ratio_to_three_hop_chain"`
	BackToBackOrders int     `json:"back_to_back_orders"`
	BackToBackP50Ms  float64 `json:"back_to_back_p50_ms"`
}

// seqGroup is how many sequential orders share one alignment of the loops.
const seqGroup = 20

func measureSequential(ctx context.Context, e env, n, backToBack int, floor Floor) (Sequential, error) {
	c := loadgen.NewClient(e.order, e.point, e.ticket)
	user, ticket := fmt.Sprintf("bench-seq-%d", time.Now().UnixNano()), fmt.Sprintf("bench-seq-t-%d", time.Now().UnixNano())
	total := n + backToBack + 5
	if err := c.SeedAccount(ctx, user, int64(total)*10); err != nil {
		return Sequential{}, err
	}
	if err := c.SeedTicket(ctx, ticket, 10, int64(total)); err != nil {
		return Sequential{}, err
	}
	var random, b2b []time.Duration
	for i := range total {
		if i >= 5 && i < 5+n && (i-5)%seqGroup == 0 {
			if _, err := measurePhase(ctx, e, "sequential: realigning the push loops", 8, time.Second); err != nil {
				return Sequential{}, err
			}
		}
		progress(fmt.Sprintf("sequential: order %d/%d", i+1, total))
		if i < 5+n {
			time.Sleep(rand.N(200 * time.Millisecond)) // a random point of the emulator's push cycle
		}
		a, err := c.PlaceOrder(ctx, user, ticket, 1, 10, fmt.Sprintf("%s-%d", user, i), 30*time.Second)
		if err != nil {
			return Sequential{}, err
		}
		if a.Status != http.StatusCreated {
			return Sequential{}, fmt.Errorf("sequential order %d answered %d", i, a.Status)
		}
		switch {
		case i < 5: // warm-up
		case i < 5+n:
			random = append(random, a.Latency)
		default:
			b2b = append(b2b, a.Latency)
		}
	}
	s := Sequential{Orders: len(random), P50Ms: ms(pct(random, 0.5)), P95Ms: ms(pct(random, 0.95)), P99Ms: ms(pct(random, 0.99)),
		BackToBackOrders: len(b2b), BackToBackP50Ms: ms(pct(b2b, 0.5))}
	s.RatioToThreeHops = s.P50Ms / floor.ThreeHopsMs()
	s.RatioToChain = s.P50Ms / floor.ChainP50Ms
	return s, nil
}

// Phase is a closed loop at one concurrency on one ticket type.
type Phase struct {
	Concurrency  int     `json:"concurrency"`
	Seconds      float64 `json:"seconds"`
	Completed    int     `json:"completed"`
	Errors       int     `json:"errors"`
	PerSecond    float64 `json:"completed_per_second"`
	P50Ms        float64 `json:"p50_ms"`
	P95Ms        float64 `json:"p95_ms"`
	P99Ms        float64 `json:"p99_ms"`
	CPUMsPerSaga float64 `json:"cpu_ms_per_saga"`
	// EmulatorCPUMsPerSaga is the emulators' CPU per saga (Pub/Sub,
	// Firestore and Auth together; each in EmulatorCPUMs), and
	// CPUBoundPerSecond the sagas per second the machine would reach if
	// all its cores went to the services and the emulators: cores ÷ their
	// CPU per saga. BoundFraction is PerSecond ÷ CPUBoundPerSecond.
	EmulatorCPUMsPerSaga float64            `json:"emulator_cpu_ms_per_saga"`
	EmulatorCPUMs        map[string]float64 `json:"emulator_cpu_ms_per_saga_by_emulator"`
	CPUBoundPerSecond    float64            `json:"cpu_bound_per_second"`
	BoundFraction        float64            `json:"bound_fraction"`
	PublishesPerSaga     float64            `json:"publishes_per_saga"`
	ReadsPerSaga         float64            `json:"firestore_reads_per_saga"`
	WritesPerSaga        float64            `json:"firestore_writes_per_saga"`
	// The same per service: CPU ms, Firestore reads and writes per saga.
	ByService map[string]ServiceCost `json:"by_service,omitempty"`
}

// ServiceCost is one service's share of a saga's cost.
type ServiceCost struct {
	CPUMs  float64 `json:"cpu_ms_per_saga"`
	Reads  float64 `json:"firestore_reads_per_saga"`
	Writes float64 `json:"firestore_writes_per_saga"`
}

func measurePhase(ctx context.Context, e env, label string, conc int, d time.Duration) (Phase, error) {
	return measurePhaseShards(ctx, e, label, conc, d, 0)
}

// measurePhaseShards is measurePhase on a ticket type with its stock over
// shards documents (0: ticket-service's default).
func measurePhaseShards(ctx context.Context, e env, label string, conc int, d time.Duration, shards int) (Phase, error) {
	ph, err := seedPhase(ctx, e, conc, shards)
	if err != nil {
		return Phase{}, err
	}
	return ph.run(ctx, e, label, d)
}

// phase is a closed loop's ticket type and buyers, put up before it runs.
type phase struct {
	tag, ticket string
	users       []string
}

// seedPhase puts up a closed loop's ticket type, with its stock over
// shards documents (0: ticket-service's default), and conc buyers.
func seedPhase(ctx context.Context, e env, conc, shards int) (phase, error) {
	c := loadgen.NewClient(e.order, e.point, e.ticket)
	tag := fmt.Sprintf("bench-c%d-%d", conc, time.Now().UnixNano())
	ticket := tag + "-ticket"
	seed := func() error { return c.SeedTicket(ctx, ticket, 10, 1_000_000) }
	if shards > 0 {
		seed = func() error { return c.SeedShardedTicket(ctx, ticket, 10, 1_000_000, shards) }
	}
	if err := seed(); err != nil {
		return phase{}, err
	}
	users := make([]string, conc)
	for i := range users {
		users[i] = fmt.Sprintf("%s-user-%d", tag, i)
		if err := c.SeedAccount(ctx, users[i], 1_000_000_000); err != nil {
			return phase{}, err
		}
	}
	return phase{tag: tag, ticket: ticket, users: users}, nil
}

// run runs the closed loop for d, one buyer per concurrent order.
func (ph phase) run(ctx context.Context, e env, label string, d time.Duration) (Phase, error) {
	c := loadgen.NewClient(e.order, e.point, e.ticket)
	tag, ticket, users, conc := ph.tag, ph.ticket, ph.users, len(ph.users)
	cpu0, err := cpuByService(e.pids)
	if err != nil {
		return Phase{}, err
	}
	emu0 := groupsCPU(e.emulators)
	m0, err := metricsByService(ctx, e)
	if err != nil {
		return Phase{}, err
	}
	var (
		mu        sync.Mutex
		lat       []time.Duration
		completed atomic.Int64
		errs      atomic.Int64
		wg        sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(d)
	stopProgress := progressEvery(func() string {
		return fmt.Sprintf("%s at concurrency %d: %.0fs/%.0fs, %d completed, %d errors",
			label, conc, time.Since(start).Seconds(), d.Seconds(), completed.Load(), errs.Load())
	})
	for w := range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(deadline); i++ {
				a, err := c.PlaceOrder(ctx, users[w], ticket, 1, 10, fmt.Sprintf("%s-%d-%d", tag, w, i), 30*time.Second)
				if err != nil || a.Status != http.StatusCreated {
					errs.Add(1)
					continue
				}
				completed.Add(1)
				mu.Lock()
				lat = append(lat, a.Latency)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	stopProgress()
	elapsed := time.Since(start)
	// Let the pushes of the last settles end (their buyers may hear the
	// commit first) before reading counters.
	time.Sleep(300 * time.Millisecond)
	cpu1, err := cpuByService(e.pids)
	if err != nil {
		return Phase{}, err
	}
	emu1 := groupsCPU(e.emulators)
	m1, err := metricsByService(ctx, e)
	if err != nil {
		return Phase{}, err
	}
	n := float64(completed.Load())
	p := Phase{Concurrency: conc, Seconds: elapsed.Seconds(), Completed: int(completed.Load()), Errors: int(errs.Load()),
		PerSecond: n / elapsed.Seconds(), P50Ms: ms(pct(lat, 0.5)), P95Ms: ms(pct(lat, 0.95)), P99Ms: ms(pct(lat, 0.99))}
	if n > 0 {
		p.ByService = map[string]ServiceCost{}
		for name, t := range cpu1 {
			sc := ServiceCost{CPUMs: ms(t-cpu0[name]) / n}
			if !e.noCounters {
				sc.Reads = float64(m1[name].FirestoreReads-m0[name].FirestoreReads) / n
				sc.Writes = float64(m1[name].FirestoreWrites-m0[name].FirestoreWrites) / n
			}
			p.ByService[name] = sc
			p.CPUMsPerSaga += sc.CPUMs
		}
		p.EmulatorCPUMs = map[string]float64{}
		for name, t := range emu1 {
			p.EmulatorCPUMs[name] = ms(t-emu0[name]) / n
			p.EmulatorCPUMsPerSaga += p.EmulatorCPUMs[name]
		}
		p.CPUBoundPerSecond = float64(runtime.NumCPU()) * 1000 / (p.CPUMsPerSaga + p.EmulatorCPUMsPerSaga)
		p.BoundFraction = p.PerSecond / p.CPUBoundPerSecond
		for name := range m1 {
			p.PublishesPerSaga += float64(m1[name].Publishes-m0[name].Publishes) / n
			p.ReadsPerSaga += float64(m1[name].FirestoreReads-m0[name].FirestoreReads) / n
			p.WritesPerSaga += float64(m1[name].FirestoreWrites-m0[name].FirestoreWrites) / n
		}
	}
	return p, nil
}

// cpuTime is the user+system CPU of the three saga services, from
// /proc/PID/stat (fields 14 and 15, in clock ticks of 10 ms).
func cpuTime(pids map[string]int) (time.Duration, error) {
	by, err := cpuByService(pids)
	var total time.Duration
	for _, t := range by {
		total += t
	}
	return total, err
}

// cpuByService is cpuTime for each service.
func cpuByService(pids map[string]int) (map[string]time.Duration, error) {
	out := map[string]time.Duration{}
	for _, name := range []string{saga.OrderService, saga.PointService, saga.TicketService} {
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pids[name]))
		if err != nil {
			return nil, fmt.Errorf("CPU of %s: %w", name, err)
		}
		// The command name (field 2) may hold spaces: count from its ')'.
		fields := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+1:]))
		utime, _ := strconv.ParseInt(fields[11], 10, 64)
		stime, _ := strconv.ParseInt(fields[12], 10, 64)
		out[name] = time.Duration(utime+stime) * 10 * time.Millisecond
	}
	return out, nil
}

// groupsCPU is the user+system CPU of every process in each process group
// (an emulator's script and the JVM or Node process it starts).
func groupsCPU(groups map[string]int) map[string]time.Duration {
	out := map[string]time.Duration{}
	if len(groups) == 0 {
		return out
	}
	byGroup := map[int]string{}
	for name, pgid := range groups {
		byGroup[pgid] = name
		out[name] = 0
	}
	dirs, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, path := range dirs {
		raw, err := os.ReadFile(path)
		if err != nil {
			continue // the process ended
		}
		fields := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+1:]))
		pgrp, _ := strconv.Atoi(fields[2])
		name, ok := byGroup[pgrp]
		if !ok {
			continue
		}
		utime, _ := strconv.ParseInt(fields[11], 10, 64)
		stime, _ := strconv.ParseInt(fields[12], 10, 64)
		out[name] += time.Duration(utime+stime) * 10 * time.Millisecond
	}
	return out
}

// metricsByService reads each service's cost counters (none when the
// services export their metrics over OTLP).
func metricsByService(ctx context.Context, e env) (map[string]metrics.Snapshot, error) {
	out := map[string]metrics.Snapshot{}
	if e.noCounters {
		return out, nil
	}
	for name, u := range map[string]string{saga.OrderService: e.order, saga.PointService: e.point, saga.TicketService: e.ticket} {
		// Prometheus text: the services' OpenTelemetry counters.
		m, err := metrics.GetSnapshot(ctx, u)
		if err != nil {
			return nil, err
		}
		out[name] = m
	}
	return out, nil
}

// FlashSale compares the grant path with sharded stock against one stock
// document, at the same concurrency, in the same run.
type FlashSale struct {
	Sharded     Flash   `json:"sharded"`
	SingleDoc   Flash   `json:"single_document"`
	SpeedupGain float64 `json:"grants_per_second_ratio"`
}

// Flash is one flash sale: consumed-point deliveries posted straight to
// ticket-service's push endpoint.
type Flash struct {
	Deliveries   int     `json:"deliveries"`
	Concurrency  int     `json:"concurrency"`
	Stock        int64   `json:"stock"`
	Granted      int64   `json:"granted"`
	Failures     int     `json:"failures"` // non-2xx answers: an aborted transaction surfacing
	Oversold     bool    `json:"oversold"`
	Seconds      float64 `json:"seconds"`
	GrantsPerSec float64 `json:"grants_per_second"`
}

// Each side posts at most deliveries, and starts no new one after limit:
// the one-document design needs minutes for what the shards do in seconds.
func measureFlashSale(ctx context.Context, e env, deliveries, conc int, stock int64, limit time.Duration) (FlashSale, error) {
	sharded, err := flash(ctx, e.ticket, "sharded", deliveries, conc, stock, limit)
	if err != nil {
		return FlashSale{}, err
	}
	single, err := flash(ctx, e.ticketSingle, "single", deliveries, conc, stock, limit)
	if err != nil {
		return FlashSale{}, err
	}
	fs := FlashSale{Sharded: sharded, SingleDoc: single}
	if single.GrantsPerSec > 0 {
		fs.SpeedupGain = sharded.GrantsPerSec / single.GrantsPerSec
	}
	return fs, nil
}

func flash(ctx context.Context, ticketURL, label string, deliveries, conc int, stock int64, limit time.Duration) (Flash, error) {
	c := loadgen.NewClient("", "", ticketURL)
	id := fmt.Sprintf("flash-%s-%d", label, time.Now().UnixNano())
	if err := c.SeedTicket(ctx, id, 1, stock); err != nil {
		return Flash{}, err
	}
	bodies := make([][]byte, deliveries)
	for i := range bodies {
		orderID := fmt.Sprintf("%s-order-%d", id, i)
		env := event.Envelope{ID: orderID, Order: &event.Order{UserID: fmt.Sprintf("%s-fan-%d", id, i), TicketID: id, Quantity: 1, Price: 1}}
		m, err := event.NewMessage(env, saga.ConsumedPoint, saga.PointService, orderID+"-consumed", "", time.Now())
		if err != nil {
			return Flash{}, err
		}
		bodies[i], _ = json.Marshal(map[string]any{
			"message":      map[string]any{"data": m.Data, "attributes": m.Attributes, "messageId": strconv.Itoa(i)},
			"subscription": "projects/bench/subscriptions/ticket-events",
		})
	}
	var (
		next     atomic.Int64
		failures atomic.Int64
		wg       sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(limit)
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				i := int(next.Add(1)) - 1
				if i >= deliveries {
					return
				}
				progress(fmt.Sprintf("flash sale (%s): %d/%d deliveries", label, i+1, deliveries))
				req, _ := http.NewRequestWithContext(ctx, "POST", ticketURL+push.Path, bytes.NewReader(bodies[i]))
				req.Header.Set("Content-Type", "application/json")
				res, err := c.HTTP.Do(req)
				if err != nil {
					failures.Add(1)
					continue
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode >= 300 {
					failures.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	left, err := c.Stock(ctx, id)
	if err != nil {
		return Flash{}, err
	}
	f := Flash{Deliveries: min(int(next.Load()), deliveries), Concurrency: conc, Stock: stock, Granted: stock - left, Failures: int(failures.Load()),
		Oversold: left < 0, Seconds: elapsed.Seconds()}
	f.GrantsPerSec = float64(f.Granted) / f.Seconds
	return f, nil
}

var (
	lastProgress atomic.Int64
	onTerminal   = func() bool { fi, err := os.Stderr.Stat(); return err == nil && fi.Mode()&os.ModeCharDevice != 0 }()
)

// progress rewrites one status line on a terminal, at most 10 times a
// second; elsewhere (CI logs) it prints a line every 5 seconds.
// progressEvery shows line() as progress twice a second until stop is
// called.
func progressEvery(line func() string) (stop func()) {
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				progress(line())
			}
		}
	}()
	return func() { close(done) }
}

func progress(s string) {
	every := int64(100)
	if !onTerminal {
		every = 5000
	}
	now := time.Now().UnixMilli()
	if last := lastProgress.Load(); now-last < every || !lastProgress.CompareAndSwap(last, now) {
		return
	}
	if onTerminal {
		fmt.Fprintf(os.Stderr, "\r\033[K%s", s)
	} else {
		fmt.Fprintln(os.Stderr, s)
	}
}

func clearProgress() {
	if onTerminal {
		fmt.Fprint(os.Stderr, "\r\033[K")
	}
}
