// Command deploy takes a Google Cloud project from empty to a working saga
// with gcloud, from the infra/ declaration (make deploy, make
// deploy-pubsub, make destroy).
//
//	deploy all|pubsub|destroy
//
// Environment: PROJECT_ID and REGION (required), DRY_RUN=1 (print every
// gcloud command, run none), ORDER_TIMEOUT (default 30s), TRACE_SAMPLE_RATIO
// (default 0.1),
// DEPLOY_AS=functions (each service as a Cloud Run function from its
// function/ entry point, on FUNCTION_BASE_IMAGE, default go126), OPERATORS (IAM members who may act as the operator account on the admin
// API; default the account deploying), ADMIN_IDENTITIES (more service
// accounts that may write there), RECREATE_CHANGED_FILTERS=1, ORDER_URL / POINT_URL / TICKET_URL (override
// the services' URLs), CONFIRM=<PROJECT_ID> (destroy).
package main

import (
	"fmt"
	"os"

	"github.com/ticketsaga/saga/infra"
	"github.com/ticketsaga/saga/infra/deploy"
	"github.com/ticketsaga/saga/shared/platform/config"
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
	fsDecl, err := infra.FirestoreDeclaration()
	if err != nil {
		return err
	}
	dry := os.Getenv("DRY_RUN") != "" && os.Getenv("DRY_RUN") != "0"
	p := &deploy.Plan{
		Project: project, Region: region, Decl: decl, Indexes: fsDecl.Indexes, Exempt: fsDecl.Exempt, TTLs: fsDecl.TTL,
		G:                      &deploy.Gcloud{Dry: dry, Out: os.Stdout},
		Log:                    os.Stdout,
		URLs:                   map[string]string{},
		RecreateChangedFilters: os.Getenv("RECREATE_CHANGED_FILTERS") == "1",
		OrderTimeout:           os.Getenv("ORDER_TIMEOUT"),
		TraceSampleRatio:       os.Getenv("TRACE_SAMPLE_RATIO"),
		FirebaseAPIKey:         os.Getenv("FIREBASE_API_KEY"),
	}
	p.OpsAdminUIDs = config.List(os.Getenv("OPS_ADMIN_UIDS"))
	if p.OrderTimeout == "" {
		p.OrderTimeout = "30s"
	}
	if p.TraceSampleRatio == "" {
		// One saga in ten: enough to see every path at any real load.
		p.TraceSampleRatio = "0.1"
	}
	switch os.Getenv("DEPLOY_AS") {
	case "", "services":
	case "functions":
		p.Functions, p.FunctionBaseImage = true, config.Or(os.Getenv("FUNCTION_BASE_IMAGE"), "go126")
	default:
		return fmt.Errorf("DEPLOY_AS=%q: want services (the default) or functions", os.Getenv("DEPLOY_AS"))
	}
	p.Operators = config.List(os.Getenv("OPERATORS"))
	p.Writers = config.List(os.Getenv("ADMIN_IDENTITIES"))
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
