package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ticketsaga/saga/shared/saga"
	"github.com/ticketsaga/saga/tools/loadgen"
	"github.com/ticketsaga/saga/tools/pushfilter"
)

// The on-sale simulations (docs/capacity.md). Production's figures are
// scaled by SIMULATED_SCALE so that this machine can offer their rate:
// the offered orders per second, and the two Firestore limits the stack's
// relay enforces (devstack: one write per second per stock shard document,
// 500 writes per second per sequential index range, both × the scale), so
// that each limit binds at the same point of the sale as in production.
//
//	BENCH_MODE=flashsale  100,000 tickets of one type in 60 s (1,667 orders/s) on 3,334 shards, more buyers than tickets
//	                      (one ticket a shard: the rate is scaled, not the sale's length)
//	BENCH_MODE=sustained  1,000 orders/s for 60 s over several ticket types
//	BENCH_MODE=shards     one grant's cost, and GET /tickets/{id}'s latency, at 16 and 4,096 shards, interleaved
//
// BENCH_LABEL names the run's results (bench-results/<mode>-<label>.json),
// so that runs of other code or declarations sit beside each other.
const (
	modeFlashSale = "flashsale"
	modeSustained = "sustained"
	modeShards    = "shards"
)

// Production's figures (docs/capacity.md).
const (
	saleTickets   = 100_000
	saleSeconds   = 60
	saleShards    = 3_334
	warmUpShards  = 1_024
	sustainedRate = 1_000 // orders per second
	salePrice     = 10
)

// SaleRun is one simulated on-sale: what was offered, what the buyers
// were told, and what the simulated limits did.
type SaleRun struct {
	Mode   string  `json:"mode"`
	Label  string  `json:"label"`
	Scale  float64 `json:"scale"`
	Shards int     `json:"shards"`
	Types  int     `json:"ticket_types"`
	// Offered is the orders per second offered (production's × scale).
	Offered   float64 `json:"offered_per_second"`
	Orders    int     `json:"orders"`
	Stock     int64   `json:"stock"`
	Instances int     `json:"instances"`

	Completed     int   `json:"completed"`
	SoldOut       int   `json:"sold_out"`
	Timeouts      int   `json:"timeouts"`
	OtherFailures int   `json:"other_failures"`
	Unfinished    int   `json:"unfinished"`
	Unsold        int64 `json:"unsold"`
	// Pace is completed orders ÷ the seconds from the first order's
	// creation to the last completion.
	Pace  float64 `json:"completed_per_second"`
	P50Ms float64 `json:"p50_ms"`
	P99Ms float64 `json:"p99_ms"`
	// Seconds from the first order's creation to the last one's end.
	Seconds float64 `json:"seconds"`
	// Ended is, second by second from the first order, how many orders
	// had completed, and how many had ended otherwise (sold out, timed
	// out, failed).
	Completions []int `json:"completions_by_second"`
	Failures    []int `json:"failures_by_second"`
	// Limits is what the Firestore relay did during the run.
	Limits LimitStats `json:"limits"`
	// Pushes is what the push relay forwarded during the run (what
	// production would deliver), and Replays how many of those were
	// replays of unfinished orders (docs/self-healing.md).
	Pushes     int64    `json:"pushes"`
	Replays    int64    `json:"replay_pushes"`
	Violations []string `json:"violations,omitempty"`
}

// LimitStats are the relay's counts (tools/fslimits.Stats): commits delayed
// or aborted by a document's limit, or by an index range's.
type LimitStats struct {
	Commits      int64         `json:"Commits"`
	DocDelayed   int64         `json:"DocDelayed"`
	DocAborted   int64         `json:"DocAborted"`
	RangeDelayed int64         `json:"RangeDelayed"`
	RangeAborted int64         `json:"RangeAborted"`
	Waited       time.Duration `json:"Waited"`
	// Hot are the index ranges and collections that held commits back.
	Hot map[string]int64 `json:"Hot,omitempty"`
}

func (a LimitStats) minus(b LimitStats) LimitStats {
	out := LimitStats{Commits: a.Commits - b.Commits, DocDelayed: a.DocDelayed - b.DocDelayed, DocAborted: a.DocAborted - b.DocAborted,
		RangeDelayed: a.RangeDelayed - b.RangeDelayed, RangeAborted: a.RangeAborted - b.RangeAborted, Waited: a.Waited - b.Waited, Hot: map[string]int64{}}
	for k, n := range a.Hot {
		if d := n - b.Hot[k]; d > 0 {
			out.Hot[k] = d
		}
	}
	return out
}

// limitStats reads the Firestore relay's counts; zero when it is not
// running.
func limitStats(ctx context.Context) (LimitStats, error) {
	var s LimitStats
	err := relayStats(ctx, "BENCH_FSLIMITS_URL", "the Firestore relay", &s)
	return s, err
}

// pushStats reads what the push relay forwarded so far; zero without one.
func pushStats(ctx context.Context) (pushfilter.Stats, error) {
	var s pushfilter.Stats
	err := relayStats(ctx, "BENCH_PUSHFILTER_URL", "the push relay", &s)
	return s, err
}

// relayStats decodes GET /stats of the relay whose URL the environment
// variable env gives into v; nothing when it is unset (no relay).
func relayStats(ctx context.Context, env, relay string, v any) error {
	u := os.Getenv(env)
	if u == "" {
		return nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u+"/stats", nil)
	if err != nil {
		return err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s's stats: %w", relay, err)
	}
	defer res.Body.Close()
	return json.NewDecoder(res.Body).Decode(v)
}

// simScale reads SIMULATED_SCALE, which devstack applied to the limits.
func simScale() (float64, error) {
	s, err := strconv.ParseFloat(os.Getenv("SIMULATED_SCALE"), 64)
	if err != nil || s <= 0 || s > 1 {
		return 0, fmt.Errorf("SIMULATED_SCALE=%q: want the scale of production's rates the stack simulates (0 to 1): run make bench-flashsale or make bench-sustained",
			os.Getenv("SIMULATED_SCALE"))
	}
	return s, nil
}

// onSaleClient is a client of every order-service instance.
func onSaleClient(e env) *loadgen.Client {
	c := loadgen.NewClient(e.order, e.point, e.ticket)
	for _, u := range strings.Split(os.Getenv("BENCH_ORDER_URLS"), ",") {
		if u != "" && u != e.order {
			c.MoreOrders = append(c.MoreOrders, u)
		}
	}
	return c
}

func localOnly(e env) error {
	for _, u := range []string{e.order, e.point, e.ticket} {
		if p, err := url.Parse(u); err != nil || p.Hostname() != "127.0.0.1" {
			return fmt.Errorf("the simulations only run against the local stack on 127.0.0.1, not %q", u)
		}
	}
	return nil
}

// measureOnSale runs BENCH_MODE=flashsale or sustained.
func measureOnSale(ctx context.Context, e env, mode string) error {
	if err := localOnly(e); err != nil {
		return err
	}
	scale, err := simScale()
	if err != nil {
		return err
	}
	label := os.Getenv("BENCH_LABEL")
	if label == "" {
		label = "now"
	}
	c := onSaleClient(e)
	r := SaleRun{Mode: mode, Label: label, Scale: scale, Instances: 1 + len(c.MoreOrders)}
	// The emulators are JVMs: warm them first, as the whole bench does, on
	// a type of its own, put up now and bought from once its shards may
	// be written again (below), at a pace the simulated index-range limit
	// lets through. BENCH_WARMUP=off skips it.
	var warm *phase
	warmPut := time.Now()
	if os.Getenv("BENCH_WARMUP") != "off" {
		ph, err := seedPhase(ctx, e, 4, warmUpShards)
		if err != nil {
			return err
		}
		warm = &ph
	}
	var sc loadgen.Scenario
	prefix := fmt.Sprintf("%s-%d", mode, time.Now().UnixNano())
	switch mode {
	case modeFlashSale:
		r.Shards = saleShards
		if v := os.Getenv("BENCH_FLASH_SHARDS"); v != "" {
			if r.Shards, err = strconv.Atoi(v); err != nil || r.Shards < 1 {
				return fmt.Errorf("BENCH_FLASH_SHARDS=%q: want a shard count", v)
			}
		}
		r.Types = 1
		r.Offered = float64(saleTickets) / saleSeconds * scale
		// One ticket per shard of production's count: the rate is scaled,
		// the sale's length is not (production's 30 tickets a shard would
		// take this stack an hour); every shard is sold, and the last
		// tickets are found. A run on fewer shards sells the same tickets.
		r.Stock = saleShards
		r.Orders = int(r.Stock) + int(r.Stock)/10 // more buyers than tickets
		sc = loadgen.Scenario{Prefix: prefix, Users: r.Orders, Balance: 10 * salePrice, Price: salePrice, Orders: r.Orders, MaxQuantity: 1}
	case modeSustained:
		r.Types, r.Shards = 8, 512
		r.Offered = sustainedRate * scale
		r.Orders = int(math.Round(r.Offered * saleSeconds))
		r.Stock = int64(r.Orders) // per type: never sold out
		sc = loadgen.Scenario{Prefix: prefix, Users: 400, Balance: int64(r.Orders) * salePrice, Price: salePrice, Orders: r.Orders, MaxQuantity: 1}
	}
	sc.Concurrency, sc.Wait, sc.Pace = r.Orders, 60*time.Second, time.Duration(float64(time.Second)/r.Offered)
	// The ticket types go up first: a PUT writes every shard, which may
	// then take its next write only after the document limit's interval
	// (production: a second; here 1/scale seconds). The sale opens once
	// that has passed, as a sale opens a while after its tickets go up.
	put := time.Now()
	var types []string
	for i := range r.Types {
		id := fmt.Sprintf("%s-type-%d", prefix, i)
		progress(fmt.Sprintf("%s: putting %s up, %d tickets over %d shards", mode, id, r.Stock, r.Shards))
		if err := c.SeedShardedTicket(ctx, id, salePrice, r.Stock, r.Shards); err != nil {
			return err
		}
		types = append(types, id)
	}
	if err := signIn(ctx, c, sc); err != nil {
		return err
	}
	run, err := loadgen.Seed(ctx, c, sc)
	if err != nil {
		return err
	}
	for _, id := range types {
		run.Stock[id] = r.Stock
	}
	docInterval := time.Duration(float64(time.Second) / scale)
	if warm != nil {
		if wait := time.Until(warmPut.Add(docInterval)); wait > 0 {
			progress(fmt.Sprintf("%s: the warm-up starts in %s, a production second after its tickets went up", mode, wait.Round(time.Second)))
			time.Sleep(wait)
		}
		if _, err := warm.run(ctx, e, "warm-up", 15*time.Second); err != nil {
			return err
		}
	}
	if wait := time.Until(put.Add(docInterval)); wait > 0 {
		progress(fmt.Sprintf("%s: the sale opens in %s, a production second after the tickets went up", mode, wait.Round(time.Second)))
		time.Sleep(wait)
	}
	// Play Cloud Scheduler: order-service's sweep stops the orders that
	// time out (ORDER_TIMEOUT) and heals stalled compensations.
	sweepCtx, stopSweep := context.WithCancel(ctx)
	defer stopSweep()
	go sweepEvery(sweepCtx, e.order+saga.TaskSweep, time.Second)
	before, err := limitStats(ctx)
	if err != nil {
		return err
	}
	pushesBefore, err := pushStats(ctx)
	if err != nil {
		return err
	}
	start := time.Now()
	stopProgress := progressEvery(func() string {
		return fmt.Sprintf("%s (%s): %.0f s, %d orders offered at %.1f/s", mode, label, time.Since(start).Seconds(), r.Orders, r.Offered)
	})
	run.Fire(ctx, c)
	finals, err := run.Settle(ctx, c, 2*time.Minute)
	stopProgress()
	if err != nil {
		return err
	}
	stopSweep()
	after, err := limitStats(ctx)
	if err != nil {
		return err
	}
	r.Limits = after.minus(before)
	pushesAfter, err := pushStats(ctx)
	if err != nil {
		return err
	}
	r.Pushes, r.Replays = pushesAfter.Forwarded-pushesBefore.Forwarded, pushesAfter.Replays-pushesBefore.Replays
	rep, err := run.Verify(ctx, c, finals)
	if err != nil {
		return err
	}
	r.Violations = rep.Violations
	for id := range run.Stock {
		left, err := c.Stock(ctx, id)
		if err != nil {
			return err
		}
		r.Unsold += left
	}
	tally(&r, run, finals)
	clearProgress()
	printSaleRun(os.Stdout, r)
	return saveJSON(fmt.Sprintf("%s-%s.json", mode, label), r)
}

// tally counts what the buyers were told, and when.
func tally(r *SaleRun, run *loadgen.Run, finals []loadgen.Order) {
	var (
		lat         []time.Duration
		first, last time.Time
		lastDone    time.Time
	)
	for _, o := range finals {
		if o.OrderID != "" && (first.IsZero() || o.CreatedAt.Before(first)) {
			first = o.CreatedAt
		}
	}
	for i, o := range finals {
		if run.Orders[i].Err != nil || o.OrderID == "" || !loadgen.Terminal(o.Status) {
			r.Unfinished++ // no answer, even after the client's retries, or not ended
			continue
		}
		lat = append(lat, o.UpdatedAt.Sub(o.CreatedAt))
		last = later(last, o.UpdatedAt)
		sec := int(o.UpdatedAt.Sub(first).Seconds())
		for len(r.Completions) <= sec {
			r.Completions = append(r.Completions, 0)
			r.Failures = append(r.Failures, 0)
		}
		switch {
		case o.Status == "completed":
			r.Completed++
			r.Completions[sec]++
			lastDone = later(lastDone, o.UpdatedAt)
			continue
		case o.Reason == saga.ReasonSoldOut:
			r.SoldOut++
		case o.Reason == saga.ReasonTimeout:
			r.Timeouts++
		default:
			r.OtherFailures++
		}
		r.Failures[sec]++
	}
	if r.Completed > 0 {
		r.Pace = float64(r.Completed) / lastDone.Sub(first).Seconds()
	}
	r.P50Ms, r.P99Ms = ms(pct(lat, 0.5)), ms(pct(lat, 0.99))
	r.Seconds = last.Sub(first).Seconds()
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func saveJSON(name string, v any) error {
	if err := os.MkdirAll("bench-results", 0o755); err != nil {
		return err
	}
	raw, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	path := filepath.Join("bench-results", name)
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		return err
	}
	fmt.Println("wrote", path)
	return nil
}

// printSaleRun prints one run as a line of docs/capacity.md's tables.
func printSaleRun(w io.Writer, r SaleRun) {
	fmt.Fprintf(w, "%s (%s): scale %.4g, %d orders offered at %.1f/s for %d ticket(s) of %d type(s) over %d shards each, %d instance(s) of order- and ticket-service\n",
		r.Mode, r.Label, r.Scale, r.Orders, r.Offered, r.Stock, r.Types, r.Shards, r.Instances)
	fmt.Fprintln(w, "| run | completed | completed/s | p50 wait | p99 wait | sold_out | timeouts | other | unfinished | unsold | seconds | commits delayed / aborted by a document | by an index range |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	fmt.Fprintf(w, "| %s | %d | %.1f | %s | %s | %d | %d | %d | %d | %d | %.1f | %d / %d | %d / %d |\n", r.Label, r.Completed, r.Pace, seconds(r.P50Ms), seconds(r.P99Ms),
		r.SoldOut, r.Timeouts, r.OtherFailures, r.Unfinished, r.Unsold, r.Seconds, r.Limits.DocDelayed, r.Limits.DocAborted, r.Limits.RangeDelayed, r.Limits.RangeAborted)
	hot := slices.SortedFunc(maps.Keys(r.Limits.Hot), func(a, b string) int { return int(r.Limits.Hot[b] - r.Limits.Hot[a]) })
	for _, k := range hot[:min(len(hot), 5)] {
		fmt.Fprintf(w, "held back %d commits: %s\n", r.Limits.Hot[k], k)
	}
	if r.Pushes > r.Replays {
		fmt.Fprintf(w, "pushes %d, of them replays %d: %.2f%% more than the %d a run without replays delivers\n",
			r.Pushes, r.Replays, 100*float64(r.Replays)/float64(r.Pushes-r.Replays), r.Pushes-r.Replays)
	}
	for _, v := range r.Violations[:min(len(r.Violations), 5)] {
		fmt.Fprintln(w, "guarantee broken:", v)
	}
}

func seconds(ms float64) string {
	if ms < 1000 {
		return fmt.Sprintf("%.0f ms", ms)
	}
	return fmt.Sprintf("%.1f s", ms/1000)
}

// signIn signs the buyers in to the Auth emulator before the sale, eight
// at a time, so that no order waits for a sign-up.
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
				progress(fmt.Sprintf("signing in buyer %d/%d", i+1, sc.Users))
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

// ShardCost is one grant's cost and GET /tickets/{id}'s latency on a type
// of Shards shards.
type ShardCost struct {
	Shards     int     `json:"shards"`
	GrantCPUMs float64 `json:"ticket_service_cpu_ms_per_grant"`
	GrantReads float64 `json:"ticket_service_reads_per_grant"`
	GetP50Ms   float64 `json:"get_ticket_p50_ms"`
	GetReads   float64 `json:"get_ticket_reads"`
}

// measureShards runs BENCH_MODE=shards: at 16 and 4,096 shards in turn,
// rounds times, a closed loop of grants (ticket-service's CPU and reads
// per grant) and 200 GET /tickets/{id} one after the other (their p50,
// and ticket-service's reads per GET).
func measureShards(ctx context.Context, e env, phase time.Duration) error {
	rounds := 3
	if _, err := measurePhase(ctx, e, "warm-up", 16, 10*time.Second); err != nil {
		return err
	}
	// The GETs read two types put up side by side and are interleaved,
	// one of each in turn: the emulator's aggregation scans the whole
	// collection, every type's shards, so its latency grows with what the
	// rounds before put up, whatever the type's own shard count.
	c := loadgen.NewClient(e.order, e.point, e.ticket)
	getTypes := map[int]string{}
	for _, n := range []int{16, 4096} {
		getTypes[n] = fmt.Sprintf("bench-get-%d-%d", n, time.Now().UnixNano())
		if err := c.SeedShardedTicket(ctx, getTypes[n], salePrice, 1_000_000, n); err != nil {
			return err
		}
	}
	var out []ShardCost
	for round := range rounds {
		grants := map[int]Phase{}
		for _, n := range []int{16, 4096} {
			p, err := measurePhaseShards(ctx, e, fmt.Sprintf("round %d/%d, %d shards", round+1, rounds, n), 16, phase, n)
			if err != nil {
				return err
			}
			grants[n] = p
		}
		gets, err := measureGets(ctx, e, getTypes, 200)
		if err != nil {
			return err
		}
		for _, n := range []int{16, 4096} {
			t := grants[n].ByService[saga.TicketService]
			out = append(out, ShardCost{Shards: n, GrantCPUMs: t.CPUMs, GrantReads: t.Reads, GetP50Ms: gets[n].p50Ms, GetReads: gets[n].reads})
		}
	}
	clearProgress()
	fmt.Println("| shards | ticket-service CPU ms per grant | reads per grant | GET /tickets/{id} p50 | reads per GET |")
	fmt.Println("|---|---|---|---|---|")
	for _, n := range []int{16, 4096} {
		var cpu, reads, get, greads []float64
		for _, c := range out {
			if c.Shards == n {
				cpu, reads, get, greads = append(cpu, c.GrantCPUMs), append(reads, c.GrantReads), append(get, c.GetP50Ms), append(greads, c.GetReads)
			}
		}
		fmt.Printf("| %d | %.3f (%s) | %.2f (%s) | %.2f ms (%s) | %.1f |\n", n, medianOf(cpu), list(cpu, "%.3f"), medianOf(reads), list(reads, "%.2f"),
			medianOf(get), list(get, "%.2f"), medianOf(greads))
	}
	return saveJSON("shards.json", out)
}

// measureGets reads a new type of n shards count times, one after the
// other: the p50 of GET /tickets/{id}, and ticket-service's reads per GET.
type getCost struct{ p50Ms, reads float64 }

// measureGets times count GET /tickets/{id} of each type in types (by
// shard count), one of each in turn, and counts ticket-service's reads per
// GET of each in a run of 20 alone.
func measureGets(ctx context.Context, e env, types map[int]string, count int) (map[int]getCost, error) {
	c := loadgen.NewClient(e.order, e.point, e.ticket)
	ns := slices.Sorted(maps.Keys(types))
	lat := map[int][]time.Duration{}
	for i := range count {
		for _, n := range ns {
			progress(fmt.Sprintf("GET /tickets/{id} at %v shards: %d/%d", ns, i+1, count))
			start := time.Now()
			if _, err := c.Stock(ctx, types[n]); err != nil {
				return nil, err
			}
			lat[n] = append(lat[n], time.Since(start))
		}
	}
	out := map[int]getCost{}
	for _, n := range ns {
		m0, err := metricsByService(ctx, e)
		if err != nil {
			return nil, err
		}
		const alone = 20
		for range alone {
			if _, err := c.Stock(ctx, types[n]); err != nil {
				return nil, err
			}
		}
		m1, err := metricsByService(ctx, e)
		if err != nil {
			return nil, err
		}
		out[n] = getCost{p50Ms: ms(pct(lat[n], 0.5)), reads: float64(m1[saga.TicketService].FirestoreReads-m0[saga.TicketService].FirestoreReads) / alone}
	}
	return out, nil
}

func medianOf(xs []float64) float64 {
	ps := make([]Phase, len(xs))
	for i, x := range xs {
		ps[i].CPUMsPerSaga = x
	}
	if len(ps) == 0 {
		return 0
	}
	return median(ps, func(p Phase) float64 { return p.CPUMsPerSaga })
}

func list(xs []float64, format string) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprintf(format, x)
	}
	return strings.Join(parts, ", ")
}
