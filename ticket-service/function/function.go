// Package function registers ticket-service with functions-framework-go as
// the function TicketService, which serves every route the service serves:
// `make deploy DEPLOY_AS=functions` deploys it as a Cloud Run function
// (docs/deploy.md). The module's root package links it in, as Cloud Run
// functions' Go buildpack requires.
package function

import (
	"github.com/ticketsaga/saga/shared/platform/serve"
	"github.com/ticketsaga/saga/ticket-service/service"
)

// Name is the function's name, its entry point (--function).
const Name = "TicketService"

func init() { serve.RegisterFunction(Name, service.LoadConfig, service.New) }
