// Package function registers point-service's handlers with
// functions-framework-go, so it can also be deployed as functions.
package function

import (
	"github.com/ticketsaga/saga/point-service/service"
	"github.com/ticketsaga/saga/shared/push"
	"github.com/ticketsaga/saga/shared/saga"
	"github.com/ticketsaga/saga/shared/serve"
)

func init() {
	serve.RegisterFunctions("Point", serve.Lazy(service.LoadConfig, service.New), push.Path, saga.TaskOutbox)
}
