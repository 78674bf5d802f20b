// Command sagactl is the operator's tool for a running saga (locally, set
// PUBSUB_EMULATOR_HOST and FIRESTORE_EMULATOR_HOST as `make run` prints).
//
//	sagactl timeline ORDER_ID             one order across the three services
//	sagactl stuck [-older-than 1m]        orders pending or stopping for too long
//	sagactl deadletters                   dead letters, grouped by subscription and reason
//	sagactl redrive -subscription S [-event-id E]
//	                                      redrive dead letters to the subscription they failed on
//	sagactl reconcile                     check what settled since the last run; repair; record the run
//	sagactl findings RUN_ID               every finding of a reconciliation run
//	sagactl token UID                     (local) a test buyer's ID token from the Auth emulator
//	sagactl warm -ticket ID -rate R       before an on-sale: bring its shards and collections up to R orders/s (500/50/5)
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
	"github.com/ticketsaga/saga/order-service/ops"
	"github.com/ticketsaga/saga/order-service/reconcile"
	"github.com/ticketsaga/saga/order-service/service"
	"github.com/ticketsaga/saga/shared/outbox"
	"github.com/ticketsaga/saga/shared/platform/config"
	ticketrecords "github.com/ticketsaga/saga/ticket-service/records"
	"github.com/ticketsaga/saga/tools/authemu"
	"github.com/ticketsaga/saga/tools/warmup"
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
  reconcile                               check what settled since the last run against points and tickets, repair, record the run
  findings RUN_ID                         every finding of a reconciliation run
  token UID                               (local) create the test buyer UID in the Auth emulator if need be; print an ID token
  warm -ticket ID -rate R [-step 5m]      before an on-sale of ticket type ID at R orders/s: bring its shards and the
                                          collections its orders write up to that rate by Firestore's 500/50/5 rule
flags: -json  machine-readable output
environment: GOOGLE_CLOUD_PROJECT, PUBSUB_TOPIC, ORDER_TIMEOUT; PUBSUB_EMULATOR_HOST and FIRESTORE_EMULATOR_HOST locally;
  token: FIREBASE_AUTH_EMULATOR_HOST (default 127.0.0.1:9099) and FIREBASE_PROJECT (default GOOGLE_CLOUD_PROJECT, then demo-saga)`

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
	warmTicket := fl.String("ticket", "", "warm: the ticket type the sale sells")
	warmRate := fl.Float64("rate", 0, "warm: the sale's orders per second")
	warmStep := fl.Duration("step", warmup.Firestore.Step, "warm: how long each step of the ramp lasts")
	if err := fl.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load("sagactl", os.Getenv)
	if err != nil {
		return err
	}
	if cmd == "token" {
		// Local only: the Auth emulator's users and unsigned tokens.
		if fl.NArg() != 1 {
			return errors.New("token needs one UID")
		}
		tok, err := authemu.FromEnv(cfg.ProjectID).Token(ctx, fl.Arg(0))
		if err != nil {
			return err
		}
		fmt.Fprintln(out, tok)
		return nil
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
			fmt.Fprintf(w, "order %s: %s %s\tpoint: %s\tticket: %s\n", tl.OrderID, tl.Status, tl.Reason, tl.PointState, tl.TicketState)
			trace := tl.TraceID
			if trace == "" {
				trace = "- (not traced)"
			}
			fmt.Fprintf(w, "trace %s\n\n", trace)
			fmt.Fprintln(w, "AT\tSERVICE\tSTEP\tEVENT\tREASON\tEVENT_ID")
			for _, r := range tl.Rows {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", r.At.Format(time.RFC3339Nano), r.Service, r.Step, r.EventType, r.Reason, r.EventID)
			}
		})
	case "stuck":
		list, err := ops.Stuck(ctx, fs, time.Now(), *olderThan)
		if err != nil {
			return err
		}
		return emit(list, func(w *tabwriter.Writer) {
			fmt.Fprintf(w, "%d orders pending or stopping for more than %s\n", len(list), *olderThan)
			fmt.Fprintln(w, "ORDER\tSTATUS\tCREATED\tAGE\tREPLAYS\tNEXT REPLAY")
			for _, o := range list {
				next := "-"
				switch {
				case o.GaveUp:
					next = "none: replays ended, look at its timeline"
				case o.NextReplay != nil:
					next = o.NextReplay.Format(time.RFC3339)
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%s\n", o.OrderID, o.Status, o.CreatedAt.Format(time.RFC3339), o.Age.Round(time.Second), o.Replays, next)
			}
		})
	case "deadletters", "redrive":
		ps, err := pubsub.NewClient(ctx, cfg.ProjectID)
		if err != nil {
			return err
		}
		defer ps.Close()
		d := ops.DeadLetters{PubSub: ps, FS: fs, Project: cfg.ProjectID, Routing: ops.Routing{Topic: decl.Topic, Hold: decl.DeadLetterSubscription, Consumers: decl.Consumers()}}
		if cmd == "deadletters" {
			dls, err := d.List(ctx)
			if err != nil {
				return err
			}
			groups := ops.GroupBy(dls)
			return emit(groups, func(w *tabwriter.Writer) {
				open := 0
				for _, g := range groups {
					open += g.Open
				}
				fmt.Fprintf(w, "%d dead letters, %d of orders not ended (open); the others were healed by the timeout sweep's replays\n", len(dls), open)
				fmt.Fprintln(w, "SUBSCRIPTION\tCOUNT\tOPEN\tREASON\tEVENT_IDS")
				for _, g := range groups {
					fmt.Fprintf(w, "%s\t%d\t%d\t%s\t%v\n", g.Subscription, g.Count, g.Open, g.Reason, g.EventIDs)
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
		settings, err := service.LoadSettings(os.Getenv)
		if err != nil {
			return err
		}
		r := reconcile.New(fs, pub, settings.OrderTimeout, settings.Heal.Max)
		res, err := r.Run(ctx)
		if err != nil {
			return err
		}
		return emit(res, func(w *tabwriter.Writer) {
			fmt.Fprintf(w, "run %s: settled orders checked %d, consistent %d; last run's findings re-checked %d, resolved %d; in flight %d; "+
				"unfinished %d; unreadable %d; findings %d, repaired %d (resumed %d times)\n",
				res.ID, res.Checked, res.Consistent, res.Rechecked, res.Resolved, res.InFlight, res.Unfinished, res.Unreadable,
				res.Findings, res.Repaired, res.Resumed)
			printFindings(w, res.Samples)
			if res.Findings > len(res.Samples) {
				fmt.Fprintf(w, "... %d more: sagactl findings %s\n", res.Findings-len(res.Samples), res.ID)
			}
		})
	case "warm":
		return warm(ctx, fs, *warmTicket, *warmRate, *warmStep, out)
	case "findings":
		if fl.NArg() != 1 {
			return errors.New("findings needs one RUN_ID")
		}
		list, err := reconcile.Findings(ctx, fs, fl.Arg(0))
		if err != nil {
			return err
		}
		return emit(list, func(w *tabwriter.Writer) {
			fmt.Fprintf(w, "%d findings\n", len(list))
			printFindings(w, list)
		})
	default:
		return fmt.Errorf("unknown command %q\n%s", cmd, usage)
	}
}

func printFindings(w io.Writer, list []reconcile.Finding) {
	if len(list) == 0 {
		return
	}
	fmt.Fprintln(w, "ORDER\tSTATUS\tPOINT\tTICKET\tPROBLEM\tREPAIR")
	for _, f := range list {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", f.OrderID, f.Status, f.PointState, f.TicketState, f.Problem, f.Repair)
	}
}

// warm brings the key ranges a sale of ticketID at rate orders/s writes up
// to that rate, printing each step as it ends.
func warm(ctx context.Context, fs *firestore.Client, ticketID string, rate float64, step time.Duration, out io.Writer) error {
	if ticketID == "" || rate <= 0 || step <= 0 {
		return errors.New("warm needs -ticket ID and -rate (the sale's orders per second)")
	}
	snap, err := fs.Collection(ticketrecords.Tickets).Doc(ticketID).Get(ctx)
	if err != nil {
		return fmt.Errorf("read ticket type %s (put it up first): %w", ticketID, err)
	}
	var t ticketrecords.Ticket
	if err := snap.DataTo(&t); err != nil || t.Shards < 1 {
		return fmt.Errorf("ticket type %s cannot be read: %v", ticketID, err)
	}
	if rate > float64(t.Shards) {
		fmt.Fprintf(out, "warning: %.0f orders/s on %d shards is more than one write per second per shard: put the type up with more shards\n", rate, t.Shards)
	}
	rule := warmup.Firestore
	rule.Step = step
	sale := warmup.Sale{TicketID: ticketID, Shards: t.Shards, Rate: rate}
	targets := sale.Targets(fs)
	for _, tg := range targets {
		fmt.Fprintf(out, "%s: up to %.0f operations/s in %d steps of %s\n", tg.Name, tg.Rate, len(rule.Schedule(tg.Rate)), step)
	}
	if _, err := warmup.Run(ctx, rule, targets, func(s warmup.Step) { fmt.Fprintln(out, s) }); err != nil {
		return err
	}
	if err := warmup.Clean(ctx, fs, []string{"orders", "point_sagas", "ticket_sagas", "accounts"}); err != nil {
		return err
	}
	fmt.Fprintln(out, "warm: done; open the sale now")
	return nil
}
