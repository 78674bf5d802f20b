// Command order-service runs order-service on Cloud Run's contract.
package main

import (
	"github.com/ticketsaga/saga/order-service/app"
	"github.com/ticketsaga/saga/shared/event"
	"github.com/ticketsaga/saga/shared/serve"
)

func main() { serve.Main(event.OrderService, app.New) }
