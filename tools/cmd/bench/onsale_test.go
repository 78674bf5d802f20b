package main

import (
	"os"
	"path/filepath"
	"testing"
)

// The plot draws from any set of runs; the bench's own are in
// docs/onsale.png (`bench plot` after the runs).
func TestPlotOnSale(t *testing.T) {
	runs := []SaleRun{
		{Mode: modeFlashSale, Label: "after", Shards: 3334, Stock: 2400, Orders: 2640, Offered: 40, Completions: []int{0, 30, 40, 40}, Failures: []int{0, 0, 0, 20}},
		{Mode: modeFlashSale, Label: "before", Shards: 100, Stock: 2400, Orders: 2640, Offered: 40, Completions: []int{0, 2, 2, 2}, Failures: []int{0, 0, 30, 40}},
		{Mode: modeSustained, Label: "after", Shards: 512, Types: 8, Orders: 2400, Offered: 40, Completions: []int{0, 40, 40}, Failures: []int{0, 0, 0}},
	}
	path := filepath.Join(t.TempDir(), "onsale.png")
	if err := plotOnSale(runs, path); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() < 10000 {
		t.Fatalf("plot: %v, %v", fi, err)
	}
	if err := plotOnSale(nil, path); err == nil {
		t.Error("a plot of no runs")
	}
}
