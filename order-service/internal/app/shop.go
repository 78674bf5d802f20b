package app

import (
	"context"
	"fmt"

	"github.com/ticketsaga/saga/shared/saga"
)

// Shop is what the buyer's page reads from the other services: balances
// from point-service, ticket types and holdings from ticket-service.
type Shop interface {
	// Balance returns userID's balance; found is false when point-service
	// has no account for them.
	Balance(ctx context.Context, userID string) (balance int64, found bool, err error)
	Owned(ctx context.Context, userID string) ([]Owned, error)
	Catalog(ctx context.Context) ([]OnSale, error)
}

// Owned is a ticket type a buyer holds, and how many.
type Owned struct {
	TicketID string
	Count    int64
}

// OnSale is a ticket type, its unit price and the stock left.
type OnSale struct {
	TicketID     string
	Price, Stock int64
}

// Buyer is what the signed-in buyer sees of themself.
type Buyer struct {
	UserID string
	// Balance is nil when the buyer has no account: their orders would
	// fail with unknown_account.
	Balance *int64
	Tickets []Owned
}

func (a *App) requireShop() (Shop, error) {
	if a.Shop == nil {
		return nil, saga.E(saga.Unavailable, "shop_unavailable", "this order-service cannot read balances and tickets (POINT_SERVICE_URL and TICKET_SERVICE_URL are not set)")
	}
	return a.Shop, nil
}

// Me returns buyer uid's balance and tickets.
func (a *App) Me(ctx context.Context, uid string) (Buyer, error) {
	shop, err := a.requireShop()
	if err != nil {
		return Buyer{}, err
	}
	b := Buyer{UserID: uid}
	bal, found, err := shop.Balance(ctx, uid)
	if err != nil {
		return Buyer{}, fmt.Errorf("balance of %s: %w", uid, err)
	}
	if found {
		b.Balance = &bal
	}
	if b.Tickets, err = shop.Owned(ctx, uid); err != nil {
		return Buyer{}, fmt.Errorf("tickets of %s: %w", uid, err)
	}
	return b, nil
}

// Catalog returns the ticket types on sale.
func (a *App) Catalog(ctx context.Context) ([]OnSale, error) {
	shop, err := a.requireShop()
	if err != nil {
		return nil, err
	}
	return shop.Catalog(ctx)
}
