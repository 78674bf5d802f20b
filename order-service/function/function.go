// Package function registers order-service's handlers with
// functions-framework-go, so they can also be deployed as functions.
package function

import (
	"net/http"

	"github.com/GoogleCloudPlatform/functions-framework-go/functions"

	"github.com/ticketsaga/saga/order-service/app"
	"github.com/ticketsaga/saga/shared/event"
	"github.com/ticketsaga/saga/shared/push"
	"github.com/ticketsaga/saga/shared/serve"
)

func init() {
	get := serve.Lazy(event.OrderService, app.New)
	functions.HTTP("OrderAPI", func(w http.ResponseWriter, r *http.Request) { get().API.ServeHTTP(w, r) })
	functions.HTTP("OrderEvents", func(w http.ResponseWriter, r *http.Request) { get().PushHandler(push.Path).ServeHTTP(w, r) })
	functions.HTTP("OrderSweep", func(w http.ResponseWriter, r *http.Request) { get().TaskHandler("/tasks/sweep").ServeHTTP(w, r) })
	functions.HTTP("OrderReconcile", func(w http.ResponseWriter, r *http.Request) { get().TaskHandler("/tasks/reconcile").ServeHTTP(w, r) })
}
