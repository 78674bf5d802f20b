package serve

import (
	"net/http"
	"path"
	"strings"

	"github.com/GoogleCloudPlatform/functions-framework-go/functions"
)

// RegisterFunctions registers a service's handlers with
// functions-framework-go, so it can also be deployed as functions:
// <prefix>API, <prefix>Events (the push endpoint at pushPath), and one
// function per task path, named after its last segment (/tasks/sweep of
// "Order" is OrderSweep). get builds the service on first use.
func RegisterFunctions(prefix string, get func() *App, pushPath string, tasks ...string) {
	functions.HTTP(prefix+"API", func(w http.ResponseWriter, r *http.Request) { get().APIHandler().ServeHTTP(w, r) })
	functions.HTTP(prefix+"Events", func(w http.ResponseWriter, r *http.Request) { get().PushHandler(pushPath).ServeHTTP(w, r) })
	for _, task := range tasks {
		name := path.Base(task)
		functions.HTTP(prefix+strings.ToUpper(name[:1])+name[1:], func(w http.ResponseWriter, r *http.Request) { get().TaskHandler(task).ServeHTTP(w, r) })
	}
}
