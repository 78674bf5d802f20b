// Command deploy takes a Google Cloud project from empty to a working saga
// with gcloud, from the infra/ declaration (make deploy, make
// deploy-pubsub, make destroy).
//
//	deploy all|pubsub|destroy
//
// Environment: PROJECT_ID and REGION (required), DRY_RUN=1 (print every
// gcloud command, run none), ORDER_TIMEOUT (default 30s), TRACE_SAMPLE_RATIO
// (default 0.1),
// RECREATE_CHANGED_FILTERS=1, ORDER_URL / POINT_URL / TICKET_URL (override
// the services' URLs), CONFIRM=<PROJECT_ID> (destroy).
package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/ticketsaga/saga/infra"
	"github.com/ticketsaga/saga/infra/deploy"
	"github.com/ticketsaga/saga/shared/saga"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "deploy:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("usage: deploy all|pubsub|destroy")
	}
	project, region := os.Getenv("PROJECT_ID"), os.Getenv("REGION")
	if project == "" || region == "" {
		return fmt.Errorf("PROJECT_ID and REGION are required: make deploy PROJECT_ID=my-project REGION=asia-northeast1")
	}
	decl, err := infra.Load()
	if err != nil {
		return err
	}
	indexes, err := infra.Indexes()
	if err != nil {
		return err
	}
	ttls, err := infra.TTLs()
	if err != nil {
		return err
	}
	dry := os.Getenv("DRY_RUN") != "" && os.Getenv("DRY_RUN") != "0"
	p := &deploy.Plan{
		Project: project, Region: region, Decl: decl, Indexes: indexes, TTLs: ttls,
		G:                      &deploy.Gcloud{Dry: dry, Out: os.Stdout},
		Log:                    os.Stdout,
		URLs:                   map[string]string{},
		RecreateChangedFilters: os.Getenv("RECREATE_CHANGED_FILTERS") == "1",
		OrderTimeout:           os.Getenv("ORDER_TIMEOUT"),
		TraceSampleRatio:       os.Getenv("TRACE_SAMPLE_RATIO"),
		FirebaseAPIKey:         os.Getenv("FIREBASE_API_KEY"),
	}
	for _, uid := range strings.Split(os.Getenv("OPS_ADMIN_UIDS"), ",") {
		if uid = strings.TrimSpace(uid); uid != "" {
			p.OpsAdminUIDs = append(p.OpsAdminUIDs, uid)
		}
	}
	if p.OrderTimeout == "" {
		p.OrderTimeout = "30s"
	}
	if p.TraceSampleRatio == "" {
		// One saga in ten: enough to see every path at any real load.
		p.TraceSampleRatio = "0.1"
	}
	for _, a := range strings.Split(os.Getenv("ADMIN_IDENTITIES"), ",") {
		if a = strings.TrimSpace(a); a != "" {
			p.Admins = append(p.Admins, a)
		}
	}
	for env, svc := range map[string]string{"ORDER_URL": saga.OrderService, "POINT_URL": saga.PointService, "TICKET_URL": saga.TicketService} {
		if u := os.Getenv(env); u != "" {
			p.URLs[svc] = u
		}
	}
	if dry {
		fmt.Println("# DRY_RUN: every gcloud command is printed, none is run; the plan assumes an empty project")
	}
	switch args[0] {
	case "all":
		return p.All()
	case "pubsub":
		return p.PubSub()
	case "destroy":
		if !dry && os.Getenv("CONFIRM") != project {
			return fmt.Errorf("destroy deletes the saga from %s; re-run with CONFIRM=%s", project, project)
		}
		return p.Destroy()
	}
	return fmt.Errorf("unknown command %q", args[0])
}
