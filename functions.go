// Package ticketsaga is the module's root package. It exists for Cloud Run
// functions: their Go buildpack builds a function from the package at the
// root of the source, so this one links in the three services' entry points
// (OrderService, PointService, TicketService), and `make deploy
// DEPLOY_AS=functions` picks one per service with --function
// (docs/deploy.md).
package ticketsaga

import (
	_ "github.com/ticketsaga/saga/order-service/function"
	_ "github.com/ticketsaga/saga/point-service/function"
	_ "github.com/ticketsaga/saga/ticket-service/function"
)
