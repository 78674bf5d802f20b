package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"time"
)

// The cost of watching. `make bench` ends with BENCH_MODE=telemetry on one
// more stack whose services trace every saga (exported over OTLP to a sink
// in devstack that drops it, as they would to Google Cloud) and record
// their metrics. It runs concurrency 32 with all of that paused, then
// recording, three times each in turn (PUT /debug/telemetry, served only by
// the local stack's build that devstack makes), and compares
// the means. One stack, interleaved: fresh stacks differ by
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
	// Means of the runs (see measureTelemetry).
	OffPerSecond, OnPerSecond       float64
	OffCPUMsPerSaga, OnCPUMsPerSaga float64
	// Idle CPU per second of the services and of the emulators, taken
	// out of each run's CPU: both spend it whatever the load (timers, the
	// emulators' push loops), so per saga it shrinks as throughput grows,
	// and throughput on the emulators swings with their push loops. The
	// marginal CPU per saga is what one more saga costs.
	IdleServiceMsPerSec, IdleEmulatorMsPerSec float64
	OffMarginalCPUMs, OnMarginalCPUMs         float64
	// The CPU-bound throughput (cores ÷ marginal CPU per saga of the
	// services and the emulators): what the machine would reach if CPU
	// were the only limit, as in production; on the emulators the measured
	// throughput is set by their push loops.
	OffMarginalBound, OnMarginalBound float64
	EmulatorMarginalCPUMs             float64
}

func measureTelemetry(ctx context.Context, e env, phase time.Duration, dir string) error {
	// A fresh stack keeps getting faster for a while (the emulators' JIT,
	// their push loops settling): a longer warm-up, and the runs in the
	// order off on on off off on, so that a steady drift favours neither.
	if _, err := measurePhase(ctx, e, "warm-up", telemetryConc, 40*time.Second); err != nil {
		return err
	}
	var t Telemetry
	var err error
	if t.IdleServiceMsPerSec, t.IdleEmulatorMsPerSec, err = idleCPU(e, 5*time.Second); err != nil {
		return err
	}
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
	// Means, not medians: the runs' order (off on on off off on) cancels
	// a steady drift in a mean (a stack keeps warming up for minutes),
	// not in a median.
	t.OffPerSecond, t.OnPerSecond = mean(t.Off, perSecond), mean(t.On, perSecond)
	t.OffCPUMsPerSaga, t.OnCPUMsPerSaga = mean(t.Off, cpu), mean(t.On, cpu)
	marginal := func(p Phase) float64 { return p.CPUMsPerSaga - t.IdleServiceMsPerSec*p.Seconds/float64(p.Completed) }
	// The emulators do the same work per saga either way (the same
	// messages, one attribute longer), but their CPU per saga swings with
	// their push loops from run to run: the bound takes their median over
	// all six runs, so that it moves with the services' CPU alone.
	emu := median(append(slices.Clone(t.Off), t.On...), func(p Phase) float64 {
		return p.EmulatorCPUMsPerSaga - t.IdleEmulatorMsPerSec*p.Seconds/float64(p.Completed)
	})
	t.EmulatorMarginalCPUMs = emu
	marginalBound := func(p Phase) float64 { return float64(runtime.NumCPU()) * 1000 / (marginal(p) + emu) }
	t.OffMarginalCPUMs, t.OnMarginalCPUMs = mean(t.Off, marginal), mean(t.On, marginal)
	t.OffMarginalBound, t.OnMarginalBound = mean(t.Off, marginalBound), mean(t.On, marginalBound)
	printTelemetry(os.Stdout, t)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	raw, _ := json.MarshalIndent(t, "", "  ")
	return os.WriteFile(filepath.Join(dir, "telemetry.json"), raw, 0o644)
}

// idleCPU is the CPU per second the services and the emulators spend with
// no saga running, over d.
func idleCPU(e env, d time.Duration) (services, emulators float64, err error) {
	s0, err := cpuTime(e.pids)
	if err != nil {
		return 0, 0, err
	}
	e0 := groupsCPU(e.emulators)
	time.Sleep(d)
	s1, err := cpuTime(e.pids)
	if err != nil {
		return 0, 0, err
	}
	e1 := groupsCPU(e.emulators)
	var emu time.Duration
	for name, t := range e1 {
		emu += t - e0[name]
	}
	return ms(s1-s0) / d.Seconds(), ms(emu) / d.Seconds(), nil
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
			return fmt.Errorf("PUT %s/debug/telemetry: %d (the services need PPROF=1 and the local stack's build, go build -tags localstack, as devstack makes)", u, res.StatusCode)
		}
	}
	return nil
}

func mean(ps []Phase, f func(Phase) float64) float64 {
	var sum float64
	for _, p := range ps {
		sum += f(p)
	}
	return sum / float64(len(ps))
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
	boundLoss := 1 - t.OnMarginalBound/t.OffMarginalBound
	extra := t.OnMarginalCPUMs - t.OffMarginalCPUMs
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
	fmt.Fprintf(w, "  %-18s %8s %8s %12s\n", "mean", "off", "on", "on vs off")
	fmt.Fprintf(w, "  %-18s %8.1f %8.1f %+11.1f%%  %s (≤ 10%% loss; set by the emulator's push loops, see docs/performance.md)\n", "sagas per second", t.OffPerSecond, t.OnPerSecond, -100*loss, verdict(loss <= 0.10))
	fmt.Fprintf(w, "  %-18s %8.2f %8.2f %+9.2f ms\n", "CPU ms per saga", t.OffCPUMsPerSaga, t.OnCPUMsPerSaga, t.OnCPUMsPerSaga-t.OffCPUMsPerSaga)
	fmt.Fprintf(w, "  %-18s %8.2f %8.2f %+9.2f ms  %s (≤ +1 ms)\n", "marginal CPU ms", t.OffMarginalCPUMs, t.OnMarginalCPUMs, extra, verdict(extra <= 1))
	fmt.Fprintf(w, "  %-18s %8.1f %8.1f %+11.1f%%  %s (≤ 10%% loss)\n", "CPU-bound per s", t.OffMarginalBound, t.OnMarginalBound, -100*boundLoss, verdict(boundLoss <= 0.10))
	fmt.Fprintf(w, "  CPU-bound: %d cores ÷ (the services' marginal CPU + the emulators' %.2f ms, their median over all runs)\n", runtime.NumCPU(), t.EmulatorMarginalCPUMs)
	fmt.Fprintf(w, "  idle CPU: services %.1f ms/s, emulators %.1f ms/s (taken out of the marginal figures)\n", t.IdleServiceMsPerSec, t.IdleEmulatorMsPerSec)
	fmt.Fprintf(w, "  runs: sagas/s off%s, on%s; CPU ms off%s, on%s\n",
		runs(t.Off, func(p Phase) float64 { return p.PerSecond }), runs(t.On, func(p Phase) float64 { return p.PerSecond }),
		runs(t.Off, func(p Phase) float64 { return p.CPUMsPerSaga }), runs(t.On, func(p Phase) float64 { return p.CPUMsPerSaga }))
}
