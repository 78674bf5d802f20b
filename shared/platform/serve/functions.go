package serve

import (
	"fmt"
	"net/http"
	"os"
	"sync"

	"github.com/GoogleCloudPlatform/functions-framework-go/functions"

	"github.com/ticketsaga/saga/shared/platform/httpjson"
)

// RegisterFunction registers a service with functions-framework-go as one
// HTTP function named name that serves every route the process serves (its
// API, push endpoint, tasks and /healthz): deployed with `gcloud run deploy
// --function=name` it is the same service, at the same URL, with the same
// subscriptions, scheduler jobs and IAM, and a long-poll still hears its
// order settle in process. When FUNCTION_TARGET names it, its configuration
// is checked as the process starts: a refusal exits before it listens, so a
// misconfigured revision never becomes ready. The service itself is built
// on first use.
func RegisterFunction[C Config](name string, load Load[C], build Build[C]) {
	if os.Getenv("FUNCTION_TARGET") == name {
		if _, err := load(os.Getenv); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	app := Lazy(load, build)
	var (
		mu      sync.Mutex
		handler http.Handler
	)
	functions.HTTP(name, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		h := handler
		mu.Unlock()
		if h == nil {
			a, err := app()
			if err != nil {
				fmt.Fprintln(os.Stderr, "cannot serve yet:", err)
				httpjson.Write(w, http.StatusServiceUnavailable, httpjson.Failure("unavailable", "the service cannot serve now"))
				return
			}
			mu.Lock()
			if handler == nil {
				handler = a.Handler()
			}
			h = handler
			mu.Unlock()
		}
		h.ServeHTTP(w, r)
	})
}
