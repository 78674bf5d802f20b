package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ticketsaga/saga/infra/loadgen"
	"github.com/ticketsaga/saga/shared/saga"
)

// The flash-sale simulation (`make bench-flashsale`, BENCH_MODE=flashsale).
// The Firestore emulator takes any number of writes per second on one
// document; production Firestore sustains about one. The stack runs with
// SIMULATED_SHARD_WRITE_RATE, which gives ticket-service's stock shard
// documents a write budget (ticket-service/internal/firestore/budget.go),
// and the bench sells one ticket type to a burst of buyers, through the
// whole saga over HTTP, at a fixed offered rate, once for each shard
// count: how fast the sale goes, how long buyers wait for their answer,
// and what fails, when the shards' budget is below or above the rate.
// It writes docs/flashsale.png and bench-results/flashsale.json.
const modeFlashSale = "flashsale"

// envShardWriteRate is ticket-service's service.EnvShardWriteRate (a test
// holds them equal; the bench does not link the service's wiring).
const envShardWriteRate = "SIMULATED_SHARD_WRITE_RATE"

// The sale: flashBuyers orders, one ticket each, offered at flashRate per
// second (open loop: one order starts every 1/flashRate whatever the
// answers), for flashStock tickets: more buyers than tickets, as in a
// real flash sale, so a sale that keeps up ends in sold_out answers.
const (
	flashRate   = 40
	flashBuyers = 250
	flashStock  = 200
	flashPrice  = 10
	// flashSettle bounds each run: after the last order's POST answered,
	// orders still pending this much later count as unfinished.
	flashSettle = 90 * time.Second
	flashPlot   = "docs/flashsale.png"
)

// flashShards are the shard counts, from most to fewest: a run that falls
// behind leaves work in the emulator's queues, so those come last.
var flashShards = []int{32, 16, 8, 4, 2, 1}

// SaleRun is one simulated flash sale at one shard count.
type SaleRun struct {
	Shards int `json:"shards"`
	// BudgetPerSecond is the shards' simulated write budget: shards ×
	// the rate per document, the most grants per second they take.
	BudgetPerSecond float64 `json:"budget_per_second"`
	Orders          int     `json:"orders"`
	Stock           int64   `json:"stock"`
	Completed       int     `json:"completed"`
	SoldOut         int     `json:"sold_out"`
	Timeouts        int     `json:"timeouts"`
	OtherFailures   int     `json:"other_failures"`
	// Unfinished orders were still pending flashSettle after the last
	// POST answered.
	Unfinished int   `json:"unfinished"`
	Unsold     int64 `json:"unsold"` // stock left at the end
	// CompletedPerSecond is the sale's pace: completed orders ÷ the
	// seconds from the first order's creation to the last completion.
	CompletedPerSecond float64 `json:"completed_per_second"`
	// BulkPerSecond is the pace of the first 90% of the completions, the
	// sale without its sell-out tail.
	BulkPerSecond float64 `json:"bulk_per_second"`
	// Latency to terminal (the order's updated_at − created_at, both
	// set by order-service), over every order that ended.
	P50Ms float64 `json:"p50_ms"`
	P99Ms float64 `json:"p99_ms"`
	// Seconds from the first order's creation to the last one's end.
	Seconds    float64  `json:"seconds"`
	Violations []string `json:"violations,omitempty"`
}

// FlashSim is the whole simulation.
type FlashSim struct {
	At                time.Time `json:"at"`
	WritesPerShardSec int       `json:"simulated_writes_per_shard_document_per_second"`
	OfferedPerSecond  float64   `json:"offered_per_second"`
	Buyers            int       `json:"orders_per_run"`
	Stock             int64     `json:"stock_per_run"`
	Runs              []SaleRun `json:"runs"`
	// Cost is a closed loop at concurrency 32 on a ticket type with 100
	// shards (a write budget no saga waits for): what one saga costs each
	// service, for docs/capacity.md.
	Cost        Phase   `json:"cost_at_concurrency_32"`
	WallSeconds float64 `json:"wall_seconds"`
}

func measureFlashSim(ctx context.Context, e env) error {
	began := time.Now()
	rate, err := strconv.Atoi(os.Getenv(envShardWriteRate))
	if err != nil || rate <= 0 {
		return fmt.Errorf("BENCH_MODE=%s needs %s (writes per second per stock shard document) set for the stack: run `make bench-flashsale`",
			modeFlashSale, envShardWriteRate)
	}
	for _, u := range []string{e.order, e.point, e.ticket} {
		if p, err := url.Parse(u); err != nil || p.Hostname() != "127.0.0.1" {
			return fmt.Errorf("the flash sale only runs against the local stack on 127.0.0.1, not %q", u)
		}
	}
	shards := flashShards
	if v := os.Getenv("BENCH_FLASH_SHARDS"); v != "" { // for a quicker look: BENCH_FLASH_SHARDS=4,1
		shards = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 1 || n > 100 {
				return fmt.Errorf("BENCH_FLASH_SHARDS=%q: want shard counts from 1 to 100, comma-separated", v)
			}
			shards = append(shards, n)
		}
	}
	// The emulators are JVMs: warm them first, as the whole bench does.
	if _, err := measurePhase(ctx, e, "warm-up", 16, 10*time.Second); err != nil {
		return err
	}
	cost, err := measurePhaseShards(ctx, e, "cost per saga by service", 32, 10*time.Second, 100)
	if err != nil {
		return err
	}
	c := loadgen.NewClient(e.order, e.point, e.ticket)
	prefix := fmt.Sprintf("flash-%d", time.Now().UnixNano())
	sc := loadgen.Scenario{Prefix: prefix, Users: flashBuyers, Balance: 10 * flashPrice, Price: flashPrice, Stock: flashStock,
		Orders: flashBuyers, Concurrency: flashBuyers, MaxQuantity: 1, Wait: 60 * time.Second, Pace: time.Second / flashRate}
	if err := signIn(ctx, c, sc); err != nil {
		return err
	}
	sim := FlashSim{At: time.Now().UTC(), WritesPerShardSec: rate, OfferedPerSecond: flashRate, Buyers: flashBuyers, Stock: flashStock, Cost: cost}
	for _, n := range shards {
		r, err := saleRun(ctx, e, c, sc, n, rate)
		if err != nil {
			return err
		}
		sim.Runs = append(sim.Runs, r)
	}
	sim.WallSeconds = time.Since(began).Seconds()
	clearProgress()
	slices.SortFunc(sim.Runs, func(a, b SaleRun) int { return a.Shards - b.Shards })
	printFlashSim(os.Stdout, sim)
	if err := os.MkdirAll("bench-results", 0o755); err != nil {
		return err
	}
	raw, _ := json.MarshalIndent(sim, "", "  ")
	if err := os.WriteFile(filepath.Join("bench-results", "flashsale.json"), raw, 0o644); err != nil {
		return err
	}
	if err := plotFlashSim(sim, flashPlot); err != nil {
		return err
	}
	fmt.Printf("\nwrote %s and %s in %.0f s\n", filepath.Join("bench-results", "flashsale.json"), flashPlot, sim.WallSeconds)
	return nil
}

// signIn signs the buyers in to the Auth emulator before the sales, eight
// at a time, so that no sale waits for a sign-up.
func signIn(ctx context.Context, c *loadgen.Client, sc loadgen.Scenario) error {
	var (
		wg   sync.WaitGroup
		next = make(chan int)
		errc = make(chan error, 8)
	)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				progress(fmt.Sprintf("flash sale: signing in buyer %d/%d", i+1, sc.Users))
				if _, err := c.Buyers.Token(ctx, fmt.Sprintf("%s-user-%d", sc.Prefix, i)); err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	for i := range sc.Users {
		next <- i
	}
	close(next)
	wg.Wait()
	close(errc)
	return <-errc
}

// saleRun sells one ticket type with its stock over shards documents.
func saleRun(ctx context.Context, e env, c *loadgen.Client, sc loadgen.Scenario, shards, rate int) (SaleRun, error) {
	// Seed resets the buyers' balances (their ids are the same in every
	// run); the ticket type is new, with its shards.
	run, err := loadgen.Seed(ctx, c, sc)
	if err != nil {
		return SaleRun{}, err
	}
	ticket := fmt.Sprintf("%s-shards-%d", sc.Prefix, shards)
	if err := c.SeedShardedTicket(ctx, ticket, sc.Price, sc.Stock, shards); err != nil {
		return SaleRun{}, err
	}
	run.Stock[ticket] = sc.Stock
	// The orders' Idempotency-Keys are per run: a buyer's key of an
	// earlier run, for another ticket, would be a reused key (422).
	run.Scenario.Prefix = ticket

	// Play Cloud Scheduler: order-service's sweep stops the orders that
	// time out (ORDER_TIMEOUT) and heals stalled compensations.
	sweepCtx, stopSweep := context.WithCancel(ctx)
	defer stopSweep()
	go sweepEvery(sweepCtx, e.order+saga.TaskSweep, time.Second)

	label := fmt.Sprintf("flash sale, %d shard(s)", shards)
	start := time.Now()
	stopProgress := progressEvery(func() string {
		return fmt.Sprintf("%s: %.0f s, %d buyers at %d/s", label, time.Since(start).Seconds(), sc.Orders, flashRate)
	})
	run.Fire(ctx, c)
	finals, err := run.Settle(ctx, c, flashSettle)
	stopProgress()
	if err != nil {
		return SaleRun{}, err
	}
	stopSweep()
	rep, err := run.Verify(ctx, c, finals)
	if err != nil {
		return SaleRun{}, err
	}
	left, err := c.Stock(ctx, ticket)
	if err != nil {
		return SaleRun{}, err
	}
	r := SaleRun{Shards: shards, BudgetPerSecond: float64(shards * rate), Orders: sc.Orders, Stock: sc.Stock, Unsold: left}
	var (
		lat         []time.Duration
		first, last time.Time
		lastDone    time.Time
		dones       []time.Time
	)
	for i, o := range finals {
		if run.Orders[i].Err != nil || o.OrderID == "" {
			r.Unfinished++ // no answer, even after the client's retries
			continue
		}
		if first.IsZero() || o.CreatedAt.Before(first) {
			first = o.CreatedAt
		}
		if !loadgen.Terminal(o.Status) {
			r.Unfinished++
			continue
		}
		lat = append(lat, o.UpdatedAt.Sub(o.CreatedAt))
		last = later(last, o.UpdatedAt)
		switch {
		case o.Status == "completed":
			r.Completed++
			lastDone = later(lastDone, o.UpdatedAt)
			dones = append(dones, o.UpdatedAt)
		case o.Reason == saga.ReasonSoldOut:
			r.SoldOut++
		case o.Reason == saga.ReasonTimeout:
			r.Timeouts++
		default:
			r.OtherFailures++
		}
	}
	if r.Completed > 0 {
		r.CompletedPerSecond = float64(r.Completed) / lastDone.Sub(first).Seconds()
		slices.SortFunc(dones, func(a, b time.Time) int { return a.Compare(b) })
		n90 := max(1, r.Completed*9/10)
		r.BulkPerSecond = float64(n90) / dones[n90-1].Sub(first).Seconds()
	}
	r.P50Ms, r.P99Ms = ms(pct(lat, 0.5)), ms(pct(lat, 0.99))
	r.Seconds = last.Sub(first).Seconds()
	r.Violations = rep.Violations
	return r, nil
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// sweepEvery posts to the task endpoint u every interval until ctx ends.
func sweepEvery(ctx context.Context, u string, every time.Duration) {
	client := &http.Client{Timeout: 30 * time.Second}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, u, nil)
		if res, err := client.Do(req); err == nil {
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
		}
	}
}

// printFlashSim prints the runs as a Markdown table, for docs/capacity.md.
func printFlashSim(w io.Writer, s FlashSim) {
	fmt.Fprintf(w, "flash sale: %d buyers offered at %.0f/s for %d tickets of one type, through the whole saga; "+
		"simulated write budget %d writes/s per stock shard document\n\n", s.Buyers, s.OfferedPerSecond, s.Stock, s.WritesPerShardSec)
	fmt.Fprintln(w, "| shards | budget writes/s | completed | completed/s | first 90%/s | p50 to terminal | p99 to terminal | sold_out | timeouts | other failures | unfinished | unsold | seconds |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range s.Runs {
		fmt.Fprintf(w, "| %d | %.0f | %d | %.1f | %.1f | %s | %s | %d | %d | %d | %d | %d | %.1f |\n", r.Shards, r.BudgetPerSecond, r.Completed,
			r.CompletedPerSecond, r.BulkPerSecond, seconds(r.P50Ms), seconds(r.P99Ms), r.SoldOut, r.Timeouts, r.OtherFailures, r.Unfinished, r.Unsold, r.Seconds)
	}
	c := s.Cost
	fmt.Fprintf(w, "\none saga's cost, closed loop at concurrency %d on 100 shards: %.1f sagas/s, p50 %.0f ms, p99 %.0f ms, %d errors; "+
		"publishes %.2f, emulators' CPU %.2f ms\n\n", c.Concurrency, c.PerSecond, c.P50Ms, c.P99Ms, c.Errors, c.PublishesPerSaga, c.EmulatorCPUMsPerSaga)
	fmt.Fprintln(w, "| service | CPU ms/saga | Firestore reads/saga | Firestore writes/saga |")
	fmt.Fprintln(w, "|---|---|---|---|")
	for _, name := range []string{saga.OrderService, saga.PointService, saga.TicketService} {
		b := c.ByService[name]
		fmt.Fprintf(w, "| %s | %.2f | %.2f | %.2f |\n", name, b.CPUMs, b.Reads, b.Writes)
	}
	fmt.Fprintf(w, "| all | %.2f | %.2f | %.2f |\n", c.CPUMsPerSaga, c.ReadsPerSaga, c.WritesPerSaga)
	for _, r := range s.Runs {
		if len(r.Violations) > 0 {
			fmt.Fprintf(w, "\n%d shard(s): %d guarantee violations, first: %s\n", r.Shards, len(r.Violations), r.Violations[0])
		}
	}
}

func seconds(ms float64) string {
	if ms < 1000 {
		return fmt.Sprintf("%.0f ms", ms)
	}
	return fmt.Sprintf("%.1f s", ms/1000)
}
