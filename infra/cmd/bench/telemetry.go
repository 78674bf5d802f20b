package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// The cost of watching. `make bench` ends with BENCH_MODE=telemetry on one
// more stack whose services trace every saga (exported over OTLP to a sink
// in devstack that drops it, as they would to Google Cloud) and record
// their metrics. It runs concurrency 32 with all of that paused, then
// recording, three times each in turn (PUT /debug/telemetry), and compares
// the medians. One stack, interleaved: fresh stacks differ by
// more than what is measured (the emulator's push loops line up
// differently on each).
const (
	modeTelemetry = "telemetry"
	telemetryConc = 32
	telemetryRuns = 3
)

// Telemetry is what the comparison measured.
type Telemetry struct {
	Off, On []Phase
	// Medians of the runs.
	OffPerSecond, OnPerSecond       float64
	OffCPUMsPerSaga, OnCPUMsPerSaga float64
}

func measureTelemetry(ctx context.Context, e env, phase time.Duration, dir string) error {
	// A fresh stack keeps getting faster for a while (the emulators' JIT,
	// their push loops settling): a longer warm-up, and the runs in the
	// order off on on off off on, so that a steady drift favours neither.
	if _, err := measurePhase(ctx, e, "warm-up", telemetryConc, 20*time.Second); err != nil {
		return err
	}
	var t Telemetry
	for i, record := range []bool{false, true, true, false, false, true} {
		if err := setTelemetry(ctx, e, record); err != nil {
			return err
		}
		label := fmt.Sprintf("telemetry off (%d of 6)", i+1)
		if record {
			label = fmt.Sprintf("telemetry on (%d of 6)", i+1)
		}
		p, err := measurePhase(ctx, e, label, telemetryConc, phase)
		if err != nil {
			return err
		}
		if record {
			t.On = append(t.On, p)
		} else {
			t.Off = append(t.Off, p)
		}
	}
	clearProgress()
	perSecond := func(p Phase) float64 { return p.PerSecond }
	cpu := func(p Phase) float64 { return p.CPUMsPerSaga }
	t.OffPerSecond, t.OnPerSecond = median(t.Off, perSecond), median(t.On, perSecond)
	t.OffCPUMsPerSaga, t.OnCPUMsPerSaga = median(t.Off, cpu), median(t.On, cpu)
	printTelemetry(os.Stdout, t)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	raw, _ := json.MarshalIndent(t, "", "  ")
	return os.WriteFile(filepath.Join(dir, "telemetry.json"), raw, 0o644)
}

// setTelemetry pauses (false) or resumes the three services' spans and
// metrics.
func setTelemetry(ctx context.Context, e env, record bool) error {
	v := "0"
	if record {
		v = "1"
	}
	for _, u := range []string{e.order, e.point, e.ticket} {
		req, err := http.NewRequestWithContext(ctx, http.MethodPut, u+"/debug/telemetry?record="+v, nil)
		if err != nil {
			return err
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		res.Body.Close()
		if res.StatusCode != http.StatusNoContent {
			return fmt.Errorf("PUT %s/debug/telemetry: %d (the services need PPROF=1)", u, res.StatusCode)
		}
	}
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
func printTelemetry(w io.Writer, t Telemetry) {
	loss := 1 - t.OnPerSecond/t.OffPerSecond
	extra := t.OnCPUMsPerSaga - t.OffCPUMsPerSaga
	verdict := func(ok bool) string {
		if ok {
			return "within budget"
		}
		return "OVER BUDGET"
	}
	runs := func(ps []Phase, f func(Phase) float64) string {
		var s string
		for _, p := range ps {
			s += fmt.Sprintf(" %.1f", f(p))
		}
		return s
	}
	fmt.Fprintf(w, "\ntracing (every saga, OTLP) and metrics, concurrency %d, one stack, %d runs each, interleaved\n", telemetryConc, telemetryRuns)
	fmt.Fprintf(w, "  %-18s %8s %8s %12s\n", "median", "off", "on", "on vs off")
	fmt.Fprintf(w, "  %-18s %8.1f %8.1f %+11.1f%%  %s (≤ 10%% loss)\n", "sagas per second", t.OffPerSecond, t.OnPerSecond, -100*loss, verdict(loss <= 0.10))
	fmt.Fprintf(w, "  %-18s %8.2f %8.2f %+9.2f ms  %s (≤ +1 ms)\n", "CPU ms per saga", t.OffCPUMsPerSaga, t.OnCPUMsPerSaga, extra, verdict(extra <= 1))
	fmt.Fprintf(w, "  runs: sagas/s off%s, on%s; CPU ms off%s, on%s\n",
		runs(t.Off, func(p Phase) float64 { return p.PerSecond }), runs(t.On, func(p Phase) float64 { return p.PerSecond }),
		runs(t.Off, func(p Phase) float64 { return p.CPUMsPerSaga }), runs(t.On, func(p Phase) float64 { return p.CPUMsPerSaga }))
}
