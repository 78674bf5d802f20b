// Command ticket-service runs ticket-service on Cloud Run's contract.
package main

import (
	"github.com/ticketsaga/saga/shared/platform/serve"
	"github.com/ticketsaga/saga/ticket-service/service"
)

func main() { serve.Main(service.LoadConfig, service.New) }
