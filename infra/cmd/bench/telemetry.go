package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// The cost of watching: `make bench` runs the saga at concurrency 32 on two
// more fresh stacks, one with tracing and metrics off (METRICS_EXPORTER=none,
// no TRACE_EXPORTER) and one with both on (every span written to a file,
// metrics recorded), and compares them. BENCH_MODE names the run.
const (
	modeTelemetryOff = "telemetry-off"
	modeTelemetryOn  = "telemetry-on"
	telemetryConc    = 32
	telemetryRuns    = 3
)

// Telemetry is what one such run measured: the medians of its phases.
type Telemetry struct {
	Mode         string  `json:"mode"`
	Runs         []Phase `json:"runs"`
	PerSecond    float64 `json:"median_completed_per_second"`
	CPUMsPerSaga float64 `json:"median_cpu_ms_per_saga"`
}

func measureTelemetry(ctx context.Context, e env, mode string, phase time.Duration, dir string) error {
	if _, err := measurePhase(ctx, e, "warm-up", 16, 10*time.Second); err != nil {
		return err
	}
	t := Telemetry{Mode: mode}
	for i := range telemetryRuns {
		p, err := measurePhase(ctx, e, fmt.Sprintf("%s %d/%d", mode, i+1, telemetryRuns), telemetryConc, phase)
		if err != nil {
			return err
		}
		t.Runs = append(t.Runs, p)
	}
	clearProgress()
	t.PerSecond = median(t.Runs, func(p Phase) float64 { return p.PerSecond })
	t.CPUMsPerSaga = median(t.Runs, func(p Phase) float64 { return p.CPUMsPerSaga })
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	raw, _ := json.MarshalIndent(t, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, mode+".json"), raw, 0o644); err != nil {
		return err
	}
	fmt.Printf("%s: concurrency %d, median of %d runs: %.1f sagas/s, %.2f ms CPU per saga\n",
		mode, telemetryConc, telemetryRuns, t.PerSecond, t.CPUMsPerSaga)
	if mode != modeTelemetryOn {
		return nil
	}
	var off Telemetry
	raw, err := os.ReadFile(filepath.Join(dir, modeTelemetryOff+".json"))
	if err != nil {
		return fmt.Errorf("no run with telemetry off to compare with (make bench runs it first): %w", err)
	}
	if err := json.Unmarshal(raw, &off); err != nil {
		return err
	}
	printTelemetry(os.Stdout, off, t)
	return nil
}

func median(ps []Phase, f func(Phase) float64) float64 {
	v := make([]float64, len(ps))
	for i, p := range ps {
		v[i] = f(p)
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// printTelemetry compares on with off against the budget: at most 10% of
// the throughput and 1 ms of CPU per saga.
func printTelemetry(w io.Writer, off, on Telemetry) {
	loss := 1 - on.PerSecond/off.PerSecond
	extra := on.CPUMsPerSaga - off.CPUMsPerSaga
	verdict := func(ok bool) string {
		if ok {
			return "within budget"
		}
		return "OVER BUDGET"
	}
	fmt.Fprintf(w, "\ntracing and metrics, concurrency %d (medians of %d runs each)\n", telemetryConc, telemetryRuns)
	fmt.Fprintf(w, "  %-22s %10s %10s %12s\n", "", "off", "on", "on vs off")
	fmt.Fprintf(w, "  %-22s %10.1f %10.1f %+11.1f%%  %s (≤ 10%% loss)\n", "sagas per second", off.PerSecond, on.PerSecond, -100*loss, verdict(loss <= 0.10))
	fmt.Fprintf(w, "  %-22s %10.2f %10.2f %+11.2f ms %s (≤ +1 ms)\n", "CPU ms per saga", off.CPUMsPerSaga, on.CPUMsPerSaga, extra, verdict(extra <= 1))
}
