// Package function registers ticket-service's handlers with
// functions-framework-go, so it can also be deployed as functions.
package function

import (
	"github.com/ticketsaga/saga/shared/push"
	"github.com/ticketsaga/saga/shared/saga"
	"github.com/ticketsaga/saga/shared/serve"
	"github.com/ticketsaga/saga/ticket-service/service"
)

func init() {
	serve.RegisterFunctions("Ticket", serve.Lazy(service.LoadConfig, service.New), push.Path, saga.TaskOutbox)
}
