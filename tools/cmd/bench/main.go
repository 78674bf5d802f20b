// Command bench measures the saga on a fresh local stack (make bench runs
// it inside `devstack bench`, which starts the stack and passes its URLs
// and PIDs): the emulator's own one-hop floor, sequential saga latency,
// closed-loop throughput at several concurrencies with the services' CPU,
// publishes, Firestore reads and writes per saga, and a flash sale on
// ticket-service's grant path, sharded stock against one stock document.
// It prints a table and writes bench-results/bench.json and
// bench-results/latency.png.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ticketsaga/saga/infra"
)

// Result is everything one run measured.
type Result struct {
	At            time.Time     `json:"at"`
	Floor         Floor         `json:"floor"`
	Sequential    Sequential    `json:"sequential"`
	Throughput    []Phase       `json:"throughput"`
	FlashSale     FlashSale     `json:"flash_sale"`
	PhaseDuration time.Duration `json:"phase_duration_ns"`
}

type env struct {
	order, point, ticket, ticketSingle string
	pids                               map[string]int
	// emulators are the emulators' process groups by name.
	emulators      map[string]int
	project, topic string
	// noCounters: the services export metrics over OTLP and serve no
	// /metrics, so the cost counters are not read.
	noCounters bool
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "\nbench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	if len(os.Args) > 1 && os.Args[1] == "plot" {
		return plotResults("bench-results", onSalePlot)
	}
	e := env{order: os.Getenv("BENCH_ORDER_URL"), point: os.Getenv("BENCH_POINT_URL"), ticket: os.Getenv("BENCH_TICKET_URL"),
		ticketSingle: os.Getenv("BENCH_TICKET_SINGLE_URL"), pids: map[string]int{},
		project: os.Getenv("GOOGLE_CLOUD_PROJECT"), topic: os.Getenv("PUBSUB_TOPIC")}
	if e.order == "" || e.ticketSingle == "" || os.Getenv("PUBSUB_EMULATOR_HOST") == "" {
		return fmt.Errorf("run me through `make bench` (devstack bench -- ...), which starts the stack I measure")
	}
	e.pids, e.emulators = parsePIDs(os.Getenv("BENCH_PIDS")), parsePIDs(os.Getenv("BENCH_EMULATOR_GROUPS"))
	phase := 10 * time.Second
	if v := os.Getenv("BENCH_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return fmt.Errorf("BENCH_DURATION=%q: want a positive Go duration", v)
		}
		phase = d
	}
	switch mode := os.Getenv("BENCH_MODE"); mode {
	case "":
	case modeTelemetry:
		e.noCounters = os.Getenv("METRICS_EXPORTER") != "prometheus" && os.Getenv("METRICS_EXPORTER") != ""
		return measureTelemetry(ctx, e, phase, "bench-results")
	case modeFlashSale, modeSustained:
		return measureOnSale(ctx, e, mode)
	case modeShards:
		return measureShards(ctx, e, phase)
	default:
		return fmt.Errorf("BENCH_MODE=%q: want %s, %s, %s or %s (unset: the whole bench)", mode, modeTelemetry, modeFlashSale, modeSustained, modeShards)
	}
	decl, err := infra.Load()
	if err != nil {
		return err
	}
	res := Result{At: time.Now().UTC(), PhaseDuration: phase}
	// The emulators are JVMs: until their hot paths are compiled, every
	// call is several times slower than on a warm stack.
	if _, err := measurePhase(ctx, e, "warm-up", 16, 10*time.Second); err != nil {
		return err
	}
	if res.Floor, err = measureFloor(ctx, e, 150, 50, len(decl.Subscriptions)); err != nil {
		return err
	}
	if res.Sequential, err = measureSequential(ctx, e, 100, 30, res.Floor); err != nil {
		return err
	}
	for _, c := range []int{1, 8, 32, 64} {
		p, err := measurePhase(ctx, e, "throughput", c, phase)
		if err != nil {
			return err
		}
		res.Throughput = append(res.Throughput, p)
	}
	if res.FlashSale, err = measureFlashSale(ctx, e, 400, 50, 300, 20*time.Second); err != nil {
		return err
	}
	clearProgress()
	printTable(os.Stdout, res)

	dir := "bench-results"
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	raw, _ := json.MarshalIndent(res, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, "bench.json"), raw, 0o644); err != nil {
		return err
	}
	if err := plotLatency(res, filepath.Join(dir, "latency.png")); err != nil {
		return err
	}
	fmt.Printf("\nwrote %s and %s\n", filepath.Join(dir, "bench.json"), filepath.Join(dir, "latency.png"))
	return nil
}

// parsePIDs reads name=pid pairs, comma-separated.
func parsePIDs(v string) map[string]int {
	out := map[string]int{}
	for _, kv := range strings.Split(v, ",") {
		name, pid, _ := strings.Cut(kv, "=")
		if n, err := strconv.Atoi(pid); err == nil {
			out[name] = n
		}
	}
	return out
}
