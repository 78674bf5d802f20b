// Package httpapi is point-service's admin and read API (private on Cloud
// Run). Its push endpoint is built from the step table by the kit.
package httpapi

import (
	"context"
	"net/http"

	"github.com/ticketsaga/saga/point-service/internal/app"
	"github.com/ticketsaga/saga/shared/platform/httpjson"
)

type accounts struct{ app *app.App }

// account is an account as the API shows it.
type account struct {
	UserID  string `json:"user_id"`
	Balance int64  `json:"balance"`
}

// balanceBody is PUT's body: the account's new balance.
type balanceBody struct {
	Balance *int64 `json:"balance" httpjson:"required"`
}

func (api accounts) put(ctx context.Context, userID string, body balanceBody) (any, error) {
	err := api.app.SetBalance(ctx, userID, *body.Balance)
	return account{UserID: userID, Balance: *body.Balance}, err
}

func (api accounts) get(ctx context.Context, userID string) (any, error) {
	balance, err := api.app.Balance(ctx, userID)
	return account{UserID: userID, Balance: balance}, err
}

// Routes returns the admin and read API of a.
func Routes(a *app.App) http.Handler {
	api := accounts{a}
	return httpjson.Mux(a.Log,
		httpjson.Put("/accounts/{user_id}", api.put),
		httpjson.Get("/accounts/{user_id}", api.get))
}
