// Package function registers ticket-service's handlers with
// functions-framework-go, so they can also be deployed as functions.
package function

import (
	"net/http"

	"github.com/GoogleCloudPlatform/functions-framework-go/functions"

	"github.com/ticketsaga/saga/shared/event"
	"github.com/ticketsaga/saga/shared/push"
	"github.com/ticketsaga/saga/shared/serve"
	"github.com/ticketsaga/saga/ticket-service/app"
)

func init() {
	get := serve.Lazy(event.TicketService, app.New)
	functions.HTTP("TicketAPI", func(w http.ResponseWriter, r *http.Request) { get().API.ServeHTTP(w, r) })
	functions.HTTP("TicketEvents", func(w http.ResponseWriter, r *http.Request) { get().PushHandler(push.Path).ServeHTTP(w, r) })
	functions.HTTP("TicketOutbox", func(w http.ResponseWriter, r *http.Request) { get().TaskHandler("/tasks/outbox").ServeHTTP(w, r) })
}
