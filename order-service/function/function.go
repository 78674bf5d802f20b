// Package function registers order-service's handlers with
// functions-framework-go, so it can also be deployed as functions.
package function

import (
	"github.com/ticketsaga/saga/order-service/service"
	"github.com/ticketsaga/saga/shared/push"
	"github.com/ticketsaga/saga/shared/saga"
	"github.com/ticketsaga/saga/shared/serve"
)

func init() {
	serve.RegisterFunctions("Order", serve.Lazy(service.LoadConfig, service.New), push.Path, saga.TaskSweep, saga.TaskReconcile)
}
