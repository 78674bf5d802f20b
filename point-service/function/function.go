// Package function registers point-service's handlers with
// functions-framework-go, so they can also be deployed as functions.
package function

import (
	"net/http"

	"github.com/GoogleCloudPlatform/functions-framework-go/functions"

	"github.com/ticketsaga/saga/point-service/app"
	"github.com/ticketsaga/saga/shared/event"
	"github.com/ticketsaga/saga/shared/push"
	"github.com/ticketsaga/saga/shared/serve"
)

func init() {
	get := serve.Lazy(event.PointService, app.New)
	functions.HTTP("PointAPI", func(w http.ResponseWriter, r *http.Request) { get().API.ServeHTTP(w, r) })
	functions.HTTP("PointEvents", func(w http.ResponseWriter, r *http.Request) { get().PushHandler(push.Path).ServeHTTP(w, r) })
	functions.HTTP("PointOutbox", func(w http.ResponseWriter, r *http.Request) { get().TaskHandler("/tasks/outbox").ServeHTTP(w, r) })
}
