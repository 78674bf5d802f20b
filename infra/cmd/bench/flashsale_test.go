package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ticketsaga/saga/shared/event"
	"github.com/ticketsaga/saga/shared/saga"
	ticketservice "github.com/ticketsaga/saga/ticket-service/service"
)

func TestFlashSaleNamesTicketServicesSetting(t *testing.T) {
	if envShardWriteRate != ticketservice.EnvShardWriteRate {
		t.Fatalf("the bench reads %s, ticket-service %s", envShardWriteRate, ticketservice.EnvShardWriteRate)
	}
}

// The plot draws from any set of runs; the bench's own runs are in
// docs/flashsale.png.
func TestPlotFlashSim(t *testing.T) {
	s := FlashSim{WritesPerShardSec: 5, OfferedPerSecond: 40, Buyers: 250, Stock: 200}
	for _, n := range []int{1, 2, 4, 8, 16, 32} {
		pace := min(float64(5*n), 40)
		s.Runs = append(s.Runs, SaleRun{Shards: n, CompletedPerSecond: pace, Completed: 200, SoldOut: 50, P50Ms: 4000 / pace * 10, P99Ms: 8000 / pace * 10})
	}
	s.Runs[0].Timeouts, s.Runs[0].Completed, s.Runs[0].SoldOut = 120, 100, 30
	path := filepath.Join(t.TempDir(), "flash.png")
	if err := plotFlashSim(s, path); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() < 10000 {
		t.Fatalf("plot: %v, %v", fi, err)
	}
	if os.Getenv("FLASH_PLOT_OUT") != "" { // to look at it: FLASH_PLOT_OUT=/tmp/x.png
		raw, _ := os.ReadFile(path)
		_ = os.WriteFile(os.Getenv("FLASH_PLOT_OUT"), raw, 0o644)
	}
}

// To redraw docs/flashsale.png from bench-results/flashsale.json without
// running the sales: FLASH_REPLOT=1 go test -run TestReplotFlashSim ./infra/cmd/bench
func TestReplotFlashSim(t *testing.T) {
	if os.Getenv("FLASH_REPLOT") == "" {
		t.Skip("FLASH_REPLOT unset")
	}
	raw, err := os.ReadFile("../../../bench-results/flashsale.json")
	if err != nil {
		t.Fatal(err)
	}
	var s FlashSim
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	if err := plotFlashSim(s, "../../../"+flashPlot); err != nil {
		t.Fatal(err)
	}
}

// TestEventSizes prints the size Pub/Sub bills for each event of one
// completed order (data and attributes), for docs/capacity.md:
// go test -v -run TestEventSizes ./infra/cmd/bench
func TestEventSizes(t *testing.T) {
	now := time.Now()
	in := event.Envelope{ID: "k" + strings.Repeat("0f", 16), Order: &event.Order{UserID: "Xk3bq9ZtR2aV7mN4pQ8sL1cD6fH0", // a Firebase uid's length
		TicketID: "concert-2026-arena-a", Quantity: 1, Price: 2000}}
	for i, step := range []struct {
		t      saga.EventType
		source string
	}{{saga.StartedOrder, saga.OrderService}, {saga.ConsumedPoint, saga.PointService}, {saga.GrantedTicket, saga.TicketService}} {
		m, err := event.NewMessage(in, step.t, step.source, fmt.Sprintf("%08d-0000-4000-8000-000000000000", i), "", now)
		if err != nil {
			t.Fatal(err)
		}
		size := len(m.Data)
		for k, v := range m.Attributes {
			size += len(k) + len(v)
		}
		t.Logf("%s: %d bytes of data, %d with its attributes", step.t, len(m.Data), size)
		if in, err = event.Decode(m.Data); err != nil {
			t.Fatal(err)
		}
	}
}
