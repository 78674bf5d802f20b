// Package function registers point-service with functions-framework-go as
// the function PointService, which serves every route the service serves:
// `make deploy DEPLOY_AS=functions` deploys it as a Cloud Run function
// (docs/deploy.md). The module's root package links it in, as Cloud Run
// functions' Go buildpack requires.
package function

import (
	"github.com/ticketsaga/saga/point-service/service"
	"github.com/ticketsaga/saga/shared/platform/serve"
)

// Name is the function's name, its entry point (--function).
const Name = "PointService"

func init() { serve.RegisterFunction(Name, service.LoadConfig, service.New) }
