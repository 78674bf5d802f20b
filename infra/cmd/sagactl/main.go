// Command sagactl is the operator's tool for a running saga (locally, set
// PUBSUB_EMULATOR_HOST and FIRESTORE_EMULATOR_HOST as `make run` prints).
//
//	sagactl timeline ORDER_ID             one order across the three services
//	sagactl stuck [-older-than 1m]        orders pending or stopping for too long
//	sagactl deadletters                   dead letters, grouped by subscription and reason
//	sagactl redrive -subscription S [-event-id E]
//	                                      redrive dead letters to the subscription they failed on
//	sagactl reconcile                     check every order against points and tickets; repair; record the run
//
// Every command takes -json for machine-readable output.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"text/tabwriter"
	"time"

	"cloud.google.com/go/firestore"
	"cloud.google.com/go/pubsub/v2"

	"github.com/ticketsaga/saga/infra"
	"github.com/ticketsaga/saga/infra/ops"
	"github.com/ticketsaga/saga/shared/config"
	"github.com/ticketsaga/saga/shared/outbox"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "sagactl:", err)
		os.Exit(1)
	}
}

const usage = `usage: sagactl COMMAND [flags]
  timeline ORDER_ID                       one order across the three services
  stuck [-older-than 1m]                  orders pending or stopping for longer than that
  deadletters                             dead letters grouped by subscription and reason
  redrive -subscription S [-event-id E]   redrive dead letters to the subscription they failed on
  reconcile                               check every order against points and tickets, repair, record the run
flags: -json  machine-readable output
environment: GOOGLE_CLOUD_PROJECT, PUBSUB_TOPIC, ORDER_TIMEOUT; PUBSUB_EMULATOR_HOST and FIRESTORE_EMULATOR_HOST locally`

func run(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	cmd, args := args[0], args[1:]
	fl := flag.NewFlagSet(cmd, flag.ContinueOnError)
	asJSON := fl.Bool("json", false, "machine-readable output")
	olderThan := fl.Duration("older-than", time.Minute, "stuck: minimum age")
	sub := fl.String("subscription", "", "redrive: the subscription whose dead letters to redrive")
	eventID := fl.String("event-id", "", "redrive: only this event")
	if err := fl.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load("sagactl", os.Getenv)
	if err != nil {
		return err
	}
	decl, err := infra.Load()
	if err != nil {
		return err
	}
	fs, err := firestore.NewClient(ctx, cfg.ProjectID)
	if err != nil {
		return err
	}
	defer fs.Close()
	emit := func(v any, table func(w *tabwriter.Writer)) error {
		if *asJSON {
			enc := json.NewEncoder(out)
			enc.SetIndent("", "  ")
			return enc.Encode(v)
		}
		w := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
		table(w)
		return w.Flush()
	}

	switch cmd {
	case "timeline":
		if fl.NArg() != 1 {
			return errors.New("timeline needs one ORDER_ID")
		}
		tl, err := ops.OrderTimeline(ctx, fs, fl.Arg(0))
		if err != nil {
			return err
		}
		return emit(tl, func(w *tabwriter.Writer) {
			fmt.Fprintf(w, "order %s: %s %s\tpoint: %s\tticket: %s\n\n", tl.OrderID, tl.Status, tl.Reason, tl.PointState, tl.TicketState)
			fmt.Fprintln(w, "AT\tSERVICE\tSTEP\tEVENT\tREASON\tPUBLISHED\tEVENT_ID")
			for _, r := range tl.Rows {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%v\t%s\n", r.At.Format(time.RFC3339Nano), r.Service, r.Step, r.EventType, r.Reason, r.Published, r.EventID)
			}
		})
	case "stuck":
		list, err := ops.Stuck(ctx, fs, time.Now(), *olderThan)
		if err != nil {
			return err
		}
		return emit(list, func(w *tabwriter.Writer) {
			fmt.Fprintf(w, "%d orders pending or stopping for more than %s\n", len(list), *olderThan)
			fmt.Fprintln(w, "ORDER\tSTATUS\tCREATED\tAGE")
			for _, o := range list {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", o.OrderID, o.Status, o.CreatedAt.Format(time.RFC3339), o.Age.Round(time.Second))
			}
		})
	case "deadletters", "redrive":
		ps, err := pubsub.NewClient(ctx, cfg.ProjectID)
		if err != nil {
			return err
		}
		defer ps.Close()
		d := ops.DeadLetters{PubSub: ps, FS: fs, Project: cfg.ProjectID, Decl: decl}
		if cmd == "deadletters" {
			dls, err := d.List(ctx)
			if err != nil {
				return err
			}
			groups := ops.GroupBy(dls)
			return emit(groups, func(w *tabwriter.Writer) {
				fmt.Fprintf(w, "%d dead letters\n", len(dls))
				fmt.Fprintln(w, "SUBSCRIPTION\tCOUNT\tREASON\tEVENT_IDS")
				for _, g := range groups {
					fmt.Fprintf(w, "%s\t%d\t%s\t%v\n", g.Subscription, g.Count, g.Reason, g.EventIDs)
				}
			})
		}
		if *sub == "" {
			return errors.New("redrive needs -subscription (redrive goes to the one subscription that failed)")
		}
		n, err := d.Redrive(ctx, func(dl ops.DeadLetter) bool {
			return dl.Subscription == *sub && (*eventID == "" || dl.EventID == *eventID)
		})
		if err != nil {
			return err
		}
		return emit(map[string]any{"redriven": n, "subscription": *sub}, func(w *tabwriter.Writer) {
			fmt.Fprintf(w, "redrove %d dead letters to %s\n", n, *sub)
		})
	case "reconcile":
		ps, err := pubsub.NewClient(ctx, cfg.ProjectID)
		if err != nil {
			return err
		}
		defer ps.Close()
		pub := outbox.NewPublisher(ps, cfg.Topic)
		r := &ops.Reconciler{FS: fs, Publisher: pub, Now: time.Now, Settle: cfg.OrderTimeout}
		res, err := r.Run(ctx)
		if err != nil {
			return err
		}
		return emit(res, func(w *tabwriter.Writer) {
			fmt.Fprintf(w, "run %s: checked %d, consistent %d, in flight %d, findings %d, repaired %d (resumed %d times)\n",
				res.ID, res.Checked, res.Consistent, res.InFlight, len(res.Findings), res.Repaired, res.Resumed)
			if len(res.Findings) > 0 {
				fmt.Fprintln(w, "ORDER\tSTATUS\tPOINT\tTICKET\tPROBLEM\tREPAIR")
				for _, f := range res.Findings {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", f.OrderID, f.Status, f.PointState, f.TicketState, f.Problem, f.Repair)
				}
			}
		})
	default:
		return fmt.Errorf("unknown command %q\n%s", cmd, usage)
	}
}
