// Command point-service runs point-service on Cloud Run's contract.
package main

import (
	"github.com/ticketsaga/saga/point-service/service"
	"github.com/ticketsaga/saga/shared/platform/serve"
)

func main() { serve.Main(service.LoadConfig, service.New) }
