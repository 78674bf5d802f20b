// Command sagaload places many concurrent orders on a running stack (make
// run) over HTTP, waits for them to settle, and checks every guarantee of
// the contract's guarantees (docs/contract.md). It exits 1 on any violation.
//
//	sagaload -orders 90 -concurrency 45 -users 10 -tickets 3 -stock 20
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/ticketsaga/saga/tools/loadgen"
)

func main() {
	var sc loadgen.Scenario
	order := flag.String("order", "http://127.0.0.1:8080", "order-service URL")
	point := flag.String("point", "http://127.0.0.1:8081", "point-service URL")
	ticket := flag.String("ticket", "http://127.0.0.1:8082", "ticket-service URL")
	flag.IntVar(&sc.Orders, "orders", 90, "orders to place")
	flag.IntVar(&sc.Concurrency, "concurrency", 45, "orders in flight at once")
	flag.IntVar(&sc.Users, "users", 10, "users")
	flag.Int64Var(&sc.Balance, "balance", 1000, "each user's points")
	flag.IntVar(&sc.Tickets, "tickets", 3, "ticket types")
	flag.Int64Var(&sc.Stock, "stock", 20, "stock of each ticket type")
	flag.Int64Var(&sc.Price, "price", 100, "points per ticket")
	flag.IntVar(&sc.MaxQuantity, "max-quantity", 2, "tickets per order, at most")
	flag.DurationVar(&sc.Wait, "wait", 25*time.Second, "long-poll of each POST")
	settle := flag.Duration("settle", 60*time.Second, "how long an order may take to settle after its answer")
	quiet := flag.Duration("quiet", 3*time.Second, "pause before reading balances and stock, for stray duplicates")
	flag.Parse()
	sc.Prefix = fmt.Sprintf("load%d", time.Now().UnixNano())

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	c := loadgen.NewClient(*order, *point, *ticket)
	run, err := loadgen.Seed(ctx, c, sc)
	if err != nil {
		fail(err)
	}
	start := time.Now()
	run.Fire(ctx, c)
	fmt.Printf("placed %d orders (%d at a time) in %s\n", sc.Orders, sc.Concurrency, time.Since(start).Round(time.Millisecond))
	finals, err := run.Settle(ctx, c, *settle)
	if err != nil {
		fail(err)
	}
	// Late duplicates may still be in flight; they must change nothing,
	// so read the state after they had their chance.
	time.Sleep(*quiet)
	rep, err := run.Verify(ctx, c, finals)
	if err != nil {
		fail(err)
	}
	fmt.Printf("completed %d, failed %d, cancelled %d, not terminal %d; invariant violations: %d\n",
		rep.Counts["completed"], rep.Counts["failed"], rep.Counts["cancelled"],
		len(run.Orders)-rep.Counts["completed"]-rep.Counts["failed"]-rep.Counts["cancelled"], len(rep.Violations))
	for _, v := range rep.Violations {
		fmt.Println("  violation:", v)
	}
	if len(rep.Violations) > 0 {
		os.Exit(1)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "sagaload:", err)
	os.Exit(1)
}
