package httpapi

import (
	"net/http"
)

// meJSON is GET /me: the signed-in buyer's balance and tickets.
type meJSON struct {
	UserID string `json:"user_id"`
	// Balance is null when point-service has no account for the buyer.
	Balance *int64      `json:"balance"`
	Tickets []ownedJSON `json:"tickets"`
}

type ownedJSON struct {
	TicketID string `json:"ticket_id"`
	Count    int64  `json:"count"`
}

type catalogJSON struct {
	Tickets []onSaleJSON `json:"tickets"`
}

type onSaleJSON struct {
	TicketID string `json:"ticket_id"`
	Price    int64  `json:"price"`
	Stock    int64  `json:"stock"`
}

func (a *API) getMe(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	uid, err := a.Buyers.Authenticate(r.Context(), r)
	if err != nil {
		return 0, nil, err
	}
	b, err := a.App.Me(r.Context(), uid)
	if err != nil {
		return 0, nil, err
	}
	out := meJSON{UserID: b.UserID, Balance: b.Balance, Tickets: make([]ownedJSON, len(b.Tickets))}
	for i, t := range b.Tickets {
		out.Tickets[i] = ownedJSON(t)
	}
	return http.StatusOK, out, nil
}

func (a *API) getCatalog(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	if _, err := a.Buyers.Authenticate(r.Context(), r); err != nil {
		return 0, nil, err
	}
	on, err := a.App.Catalog(r.Context())
	if err != nil {
		return 0, nil, err
	}
	out := catalogJSON{Tickets: make([]onSaleJSON, len(on))}
	for i, t := range on {
		out.Tickets[i] = onSaleJSON(t)
	}
	return http.StatusOK, out, nil
}
