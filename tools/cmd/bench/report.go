package main

import (
	"fmt"
	"image/color"
	"io"
	"maps"
	"runtime"
	"slices"
	"text/tabwriter"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

func printTable(w io.Writer, r Result) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(w, "emulator floor: one hop p50 %.1f ms (p90 %.1f ms, %d samples at random points of the push cycle); three hops %.1f ms\n",
		r.Floor.OneHopP50Ms, r.Floor.OneHopP90Ms, r.Floor.Samples, r.Floor.ThreeHopsMs())
	fmt.Fprintf(w, "emulator three-hop chain (a saga doing no work): p50 %.1f ms, p90 %.1f ms, %d samples\n",
		r.Floor.ChainP50Ms, r.Floor.ChainP90Ms, r.Floor.ChainSamples)
	s := r.Sequential
	fmt.Fprintf(w, "sequential sagas: %d orders at random points of the push cycle, p50 %.1f ms, p95 %.1f ms, p99 %.1f ms; p50 / three-hop floor = %.2f; p50 / chain = %.2f\n",
		s.Orders, s.P50Ms, s.P95Ms, s.P99Ms, s.RatioToThreeHops, s.RatioToChain)
	fmt.Fprintf(w, "  back to back (%d orders, each right after the last; locked to the loops' alignment): p50 %.1f ms\n",
		s.BackToBackOrders, s.BackToBackP50Ms)
	fmt.Fprintln(w)
	fmt.Fprintln(tw, "concurrency\tcompleted\terrors\tper s\tp50 ms\tp95 ms\tp99 ms\tCPU ms/saga\temulators CPU ms/saga\tCPU-bound per s\tof bound\tpublishes/saga\treads/saga\twrites/saga\t")
	for _, p := range r.Throughput {
		fmt.Fprintf(tw, "%d\t%d\t%d\t%.1f\t%.0f\t%.0f\t%.0f\t%.2f\t%.2f\t%.1f\t%.0f%%\t%.2f\t%.2f\t%.2f\t\n", p.Concurrency, p.Completed, p.Errors,
			p.PerSecond, p.P50Ms, p.P95Ms, p.P99Ms, p.CPUMsPerSaga,
			p.EmulatorCPUMsPerSaga, p.CPUBoundPerSecond, 100*p.BoundFraction, p.PublishesPerSaga, p.ReadsPerSaga, p.WritesPerSaga)
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "CPU-bound: %d cores ÷ (services' + emulators' CPU per saga); by emulator at concurrency 32:%s\n",
		runtime.NumCPU(), byEmulator(r.Throughput, 32))
	fmt.Fprintln(w)
	fmt.Fprintln(tw, "flash sale\tdeliveries\tconcurrency\tstock\tgranted\tfailures\toversold\tseconds\tgrants/s\t")
	for _, f := range []struct {
		name string
		f    Flash
	}{{"sharded stock", r.FlashSale.Sharded}, {"one stock document", r.FlashSale.SingleDoc}} {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%v\t%.2f\t%.1f\t\n", f.name, f.f.Deliveries, f.f.Concurrency, f.f.Stock,
			f.f.Granted, f.f.Failures, f.f.Oversold, f.f.Seconds, f.f.GrantsPerSec)
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "sharded / one document grants per second: %.1fx\n", r.FlashSale.SpeedupGain)
}

// byEmulator lists each emulator's CPU per saga in the phase at conc.
func byEmulator(ps []Phase, conc int) string {
	var out string
	for _, p := range ps {
		if p.Concurrency != conc {
			continue
		}
		names := slices.Sorted(maps.Keys(p.EmulatorCPUMs))
		for _, n := range names {
			out += fmt.Sprintf(" %s %.2f ms", n, p.EmulatorCPUMs[n])
		}
	}
	return out
}

// plotLatency draws latency percentiles against concurrency.
func plotLatency(r Result, path string) error {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("Saga latency vs concurrency (one ticket type; emulator three-hop floor %.0f ms)", r.Floor.ThreeHopsMs())
	p.X.Label.Text = "concurrent clients"
	p.Y.Label.Text = "POST /orders latency (ms)"
	p.Add(plotter.NewGrid())
	series := map[string]func(Phase) float64{
		"p50": func(x Phase) float64 { return x.P50Ms },
		"p95": func(x Phase) float64 { return x.P95Ms },
		"p99": func(x Phase) float64 { return x.P99Ms },
	}
	var lines []any
	for _, name := range []string{"p50", "p95", "p99"} {
		pts := make(plotter.XYs, len(r.Throughput))
		for i, ph := range r.Throughput {
			pts[i] = plotter.XY{X: float64(ph.Concurrency), Y: series[name](ph)}
		}
		lines = append(lines, name, pts)
	}
	if err := plotutil.AddLinePoints(p, lines...); err != nil {
		return err
	}
	floor := plotter.NewFunction(func(float64) float64 { return r.Floor.ThreeHopsMs() })
	floor.Color = color.Gray{Y: 128}
	floor.Dashes = []vg.Length{vg.Points(4), vg.Points(4)}
	p.Add(floor)
	p.Legend.Add("three-hop floor", floor)
	p.Legend.Top = true
	p.Legend.Left = true
	return p.Save(8*vg.Inch, 5*vg.Inch, path)
}
