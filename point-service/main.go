// Command point-service runs point-service on Cloud Run's contract.
package main

import (
	"github.com/ticketsaga/saga/point-service/app"
	"github.com/ticketsaga/saga/shared/event"
	"github.com/ticketsaga/saga/shared/serve"
)

func main() { serve.Main(event.PointService, app.New) }
