package main

import (
	"encoding/json"
	"fmt"
	"image/color"
	"os"
	"path/filepath"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// onSalePlot is the picture of the on-sale simulations in docs/capacity.md.
const onSalePlot = "docs/onsale.png"

// plotResults draws every flashsale-*.json and sustained-*.json run in
// dir: `bench plot`, after the runs.
func plotResults(dir, path string) error {
	var runs []SaleRun
	for _, pattern := range []string{"flashsale-*.json", "sustained-*.json"} {
		files, _ := filepath.Glob(filepath.Join(dir, pattern))
		for _, f := range files {
			raw, err := os.ReadFile(f)
			if err != nil {
				return err
			}
			var r SaleRun
			if err := json.Unmarshal(raw, &r); err != nil {
				return fmt.Errorf("%s: %w", f, err)
			}
			runs = append(runs, r)
		}
	}
	if err := plotOnSale(runs, path); err != nil {
		return err
	}
	fmt.Println("wrote", path)
	return nil
}

// plotOnSale draws, for each mode, every run's orders ended by second since
// the sale began: completed (solid) and told otherwise (dashed: sold out,
// timed out, failed), one colour per run.
func plotOnSale(runs []SaleRun, path string) error {
	if len(runs) == 0 {
		return fmt.Errorf("no runs to plot")
	}
	slices.SortFunc(runs, func(a, b SaleRun) int {
		if a.Label < b.Label {
			return -1
		}
		return 1
	})
	colours := []color.Color{color.RGBA{B: 200, A: 255}, color.RGBA{R: 200, A: 255}, color.RGBA{G: 140, A: 255},
		color.RGBA{R: 230, G: 130, A: 255}, color.Gray{Y: 90}}
	var panels []*plot.Plot
	for _, m := range []struct{ mode, title string }{
		{modeFlashSale, "A flash sale: %d tickets of one type for %d buyers at %.0f/s"},
		{modeSustained, "Sustained: %d orders at %.0f/s over %d ticket types"},
	} {
		var these []SaleRun
		for _, r := range runs {
			if r.Mode == m.mode {
				these = append(these, r)
			}
		}
		if len(these) == 0 {
			continue
		}
		p := plot.New()
		r0 := these[0]
		if m.mode == modeFlashSale {
			p.Title.Text = fmt.Sprintf(m.title, r0.Stock, r0.Orders, r0.Offered)
		} else {
			p.Title.Text = fmt.Sprintf(m.title, r0.Orders, r0.Offered, r0.Types)
		}
		p.X.Label.Text = "seconds since the first order"
		p.Y.Label.Text = "orders ended, cumulative"
		p.Add(plotter.NewGrid())
		p.Legend.Top, p.Legend.Left = true, true
		for i, r := range these {
			c := colours[i%len(colours)]
			for _, s := range []struct {
				counts []int
				name   string
				dashed bool
			}{{r.Completions, "completed", false}, {r.Failures, "told otherwise", true}} {
				pts := make(plotter.XYs, len(s.counts)+1)
				sum := 0
				for sec, n := range s.counts {
					sum += n
					pts[sec+1] = plotter.XY{X: float64(sec + 1), Y: float64(sum)}
				}
				l, err := plotter.NewLine(pts)
				if err != nil {
					return err
				}
				l.Color, l.Width = c, vg.Points(1.5)
				if s.dashed {
					l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
				}
				p.Add(l)
				p.Legend.Add(fmt.Sprintf("%s, %d shards: %s", r.Label, r.Shards, s.name), l)
			}
		}
		panels = append(panels, p)
	}
	w := vg.Length(len(panels)) * 7.5 * vg.Inch
	img := vgimg.New(w, 5*vg.Inch)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 1, Cols: len(panels), PadX: vg.Points(28), PadTop: vg.Points(8), PadBottom: vg.Points(8), PadLeft: vg.Points(8), PadRight: vg.Points(12)}
	for i, p := range panels {
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
