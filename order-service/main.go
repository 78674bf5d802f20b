// Command order-service runs order-service on Cloud Run's contract.
package main

import (
	"github.com/ticketsaga/saga/order-service/service"
	"github.com/ticketsaga/saga/shared/platform/serve"
)

func main() { serve.Main(service.LoadConfig, service.New) }
