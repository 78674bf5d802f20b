// Command funcmain is the main that Cloud Run functions' Go buildpack
// generates for a function (its declarative template): it imports the
// package at the root of the source and serves the function FUNCTION_TARGET
// names with functions-framework-go. The deploy's tests build it to check
// the entry points `make deploy DEPLOY_AS=functions` names, and it runs one
// locally as Cloud Run would (FUNCTION_TARGET=PointService go run
// ./infra/cmd/funcmain).
package main

import (
	"log"
	"net/http"
	"os"

	"github.com/GoogleCloudPlatform/functions-framework-go/funcframework"

	_ "github.com/ticketsaga/saga"
)

func main() {
	http.HandleFunc("/robots.txt", http.NotFound)
	http.HandleFunc("/favicon.ico", http.NotFound)
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	if err := funcframework.Start(port); err != nil {
		log.Fatalf("Function failed to start: %v\n", err)
	}
}
