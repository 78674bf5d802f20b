// Command ticket-service runs ticket-service on Cloud Run's contract.
package main

import (
	"github.com/ticketsaga/saga/shared/event"
	"github.com/ticketsaga/saga/shared/serve"
	"github.com/ticketsaga/saga/ticket-service/app"
)

func main() { serve.Main(event.TicketService, app.New) }
