package main

import (
	"fmt"
	"image/color"
	"math"
	"os"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// plotFlashSim draws the simulation's curve against the shard count, in
// three panels: the sale's pace beside the offered rate and the shards'
// write budget, the buyers' latency to an answer, and what failed.
func plotFlashSim(s FlashSim, path string) error {
	if len(s.Runs) == 0 {
		return fmt.Errorf("no runs to plot")
	}
	var ticks []plot.Tick
	for _, r := range s.Runs {
		ticks = append(ticks, plot.Tick{Value: float64(r.Shards), Label: strconv.Itoa(r.Shards)})
	}
	lo, hi := float64(s.Runs[0].Shards), float64(s.Runs[len(s.Runs)-1].Shards)
	newPanel := func(title, ylabel string) *plot.Plot {
		p := plot.New()
		p.Title.Text = title
		p.X.Label.Text = "stock shards (log scale)"
		p.Y.Label.Text = ylabel
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = plot.ConstantTicks(ticks)
		p.X.Min, p.X.Max = lo/1.2, hi*1.2
		p.Add(plotter.NewGrid())
		// The legend is placed on the whole panel, title included: below it.
		p.Legend.Top = true
		p.Legend.Left = true
		p.Legend.YOffs = -vg.Points(24)
		p.Legend.XOffs = vg.Points(50)
		return p
	}
	xy := func(f func(SaleRun) float64) plotter.XYs {
		pts := make(plotter.XYs, len(s.Runs))
		for i, r := range s.Runs {
			pts[i] = plotter.XY{X: float64(r.Shards), Y: f(r)}
		}
		return pts
	}
	line := func(p *plot.Plot, name string, pts plotter.XYs, c color.Color, dashed bool) error {
		l, sc, err := plotter.NewLinePoints(pts)
		if err != nil {
			return err
		}
		l.Color, sc.Color = c, c
		l.Width = vg.Points(1.5)
		sc.Shape = draw.CircleGlyph{}
		if dashed {
			l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
			sc.Radius = 0
		}
		p.Add(l, sc)
		p.Legend.Add(name, l)
		return nil
	}
	blue, red, grey, green, orange := color.RGBA{B: 200, A: 255}, color.RGBA{R: 200, A: 255}, color.Gray{Y: 120},
		color.RGBA{G: 140, A: 255}, color.RGBA{R: 230, G: 130, A: 255}

	pace := newPanel("Sale pace", "orders per second")
	budget := make(plotter.XYs, 0, 64)
	for x := lo; x <= hi*1.0001; x *= math.Pow(2, 0.25) {
		budget = append(budget, plotter.XY{X: x, Y: math.Min(x*float64(s.WritesPerShardSec), 2*s.OfferedPerSecond)})
	}
	if err := line(pace, "completed orders/s", xy(func(r SaleRun) float64 { return r.CompletedPerSecond }), blue, false); err != nil {
		return err
	}
	if err := line(pace, fmt.Sprintf("offered: %.0f/s", s.OfferedPerSecond), xy(func(SaleRun) float64 { return s.OfferedPerSecond }), grey, true); err != nil {
		return err
	}
	if err := line(pace, fmt.Sprintf("shards × %d writes/s", s.WritesPerShardSec), budget, orange, true); err != nil {
		return err
	}
	pace.Y.Min, pace.Y.Max = 0, 1.6*s.OfferedPerSecond

	lat := newPanel("Buyer's wait for the answer", "order created → ended (s, log scale)")
	lat.Y.Scale = plot.LogScale{}
	secs := func(ms float64) float64 { return math.Max(ms/1000, 0.01) }
	if err := line(lat, "p50", xy(func(r SaleRun) float64 { return secs(r.P50Ms) }), blue, false); err != nil {
		return err
	}
	if err := line(lat, "p99", xy(func(r SaleRun) float64 { return secs(r.P99Ms) }), red, false); err != nil {
		return err
	}
	lat.Legend.Left = false
	lat.Legend.XOffs = -vg.Points(10)
	top := 1.0
	for _, r := range s.Runs {
		top = math.Max(top, secs(r.P99Ms))
	}
	lat.Y.Min, lat.Y.Max = 0.1, math.Pow(10, math.Ceil(math.Log10(top)))
	var decades []plot.Tick
	for v := 0.1; v <= lat.Y.Max*1.001; v *= 10 {
		decades = append(decades, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', -1, 64)})
		for m := 2.0; m < 10 && v*m < lat.Y.Max; m++ {
			decades = append(decades, plot.Tick{Value: v * m})
		}
	}
	lat.Y.Tick.Marker = plot.ConstantTicks(decades)

	fail := newPanel("What the buyers were told", "orders")
	if err := line(fail, "completed", xy(func(r SaleRun) float64 { return float64(r.Completed) }), blue, false); err != nil {
		return err
	}
	if err := line(fail, "sold_out", xy(func(r SaleRun) float64 { return float64(r.SoldOut) }), green, false); err != nil {
		return err
	}
	if err := line(fail, "timeout", xy(func(r SaleRun) float64 { return float64(r.Timeouts) }), red, false); err != nil {
		return err
	}
	if err := line(fail, "unfinished or other", xy(func(r SaleRun) float64 { return float64(r.Unfinished + r.OtherFailures) }), grey, false); err != nil {
		return err
	}
	if err := line(fail, "tickets left unsold", xy(func(r SaleRun) float64 { return float64(r.Unsold) }), orange, true); err != nil {
		return err
	}
	fail.Y.Min, fail.Y.Max = 0, float64(s.Buyers)*1.05
	var counts []plot.Tick
	for n := 0; n <= s.Buyers; n += 50 {
		counts = append(counts, plot.Tick{Value: float64(n), Label: strconv.Itoa(n)})
	}
	fail.Y.Tick.Marker = plot.ConstantTicks(counts)
	fail.Legend.Top = false
	fail.Legend.YOffs = vg.Points(110)

	img := vgimg.New(15*vg.Inch, 5*vg.Inch)
	dc := draw.New(img)
	title := fmt.Sprintf("Flash sale on the local stack, simulated write limit of %d writes/s per stock shard document: %d buyers at %.0f/s for %d tickets, one run per shard count",
		s.WritesPerShardSec, s.Buyers, s.OfferedPerSecond, s.Stock)
	dc.FillText(draw.TextStyle{Color: color.Black, Font: pace.Title.TextStyle.Font, XAlign: draw.XCenter, YAlign: draw.YTop, Handler: pace.Title.TextStyle.Handler},
		vg.Point{X: 7.5 * vg.Inch, Y: 5*vg.Inch - vg.Points(6)}, title)
	tiles := draw.Tiles{Rows: 1, Cols: 3, PadX: vg.Points(28), PadTop: vg.Points(28), PadBottom: vg.Points(8), PadLeft: vg.Points(8), PadRight: vg.Points(12)}
	for i, p := range []*plot.Plot{pace, lat, fail} {
		p.Draw(tiles.At(dc, i, 0))
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
