// Package peers is order-service's client of point-service and
// ticket-service's read API, for the buyer's page: balances, ticket types
// and holdings. On Cloud Run those services are private, so each call
// carries a Google-signed ID token of order-service's identity, minted for
// the callee's URL (the audience it checks); against the emulators they are
// open and the calls go plain.
package peers

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
	"google.golang.org/api/idtoken"

	"github.com/ticketsaga/saga/order-service/internal/app"
)

// Client reads from point-service and ticket-service.
type Client struct {
	point, ticket         string // base URLs
	pointHTTP, ticketHTTP *http.Client

	// The catalog is the same for every buyer, and reading it sums every
	// shard of every ticket type: it is read at most once per
	// catalogFresh per instance, however many pages load (in a flash sale,
	// thousands a second), and shown up to that old.
	catalogMu sync.Mutex
	catalog   []app.OnSale
	catalogAt time.Time
	flight    singleflight.Group
}

// catalogFresh is how long a catalog read is shown.
const catalogFresh = time.Second

var _ app.Shop = (*Client)(nil)

// callTimeout bounds one read: the page waits on it.
const callTimeout = 10 * time.Second

// New returns a client of the services at pointURL and ticketURL. With
// signed, every call carries an ID token for the callee's URL.
func New(ctx context.Context, pointURL, ticketURL string, signed bool) (*Client, error) {
	c := &Client{point: strings.TrimSuffix(pointURL, "/"), ticket: strings.TrimSuffix(ticketURL, "/"),
		pointHTTP: &http.Client{Timeout: callTimeout}, ticketHTTP: &http.Client{Timeout: callTimeout}}
	if signed {
		var err error
		if c.pointHTTP, err = idtoken.NewClient(ctx, c.point); err != nil {
			return nil, fmt.Errorf("ID token client for %s: %w", c.point, err)
		}
		if c.ticketHTTP, err = idtoken.NewClient(ctx, c.ticket); err != nil {
			return nil, fmt.Errorf("ID token client for %s: %w", c.ticket, err)
		}
		c.pointHTTP.Timeout, c.ticketHTTP.Timeout = callTimeout, callTimeout
	}
	return c, nil
}

// get reads base+path into out; found is false on 404.
func get(ctx context.Context, client *http.Client, base, path string, out any) (found bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
	if err != nil {
		return false, err
	}
	res, err := client.Do(req)
	if err != nil {
		return false, fmt.Errorf("GET %s: %w", base+path, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	switch {
	case err != nil:
		return false, fmt.Errorf("GET %s: %w", base+path, err)
	case res.StatusCode == http.StatusNotFound:
		return false, nil
	case res.StatusCode != http.StatusOK:
		return false, fmt.Errorf("GET %s: %s: %.200s", base+path, res.Status, body)
	}
	if err := json.Unmarshal(body, out); err != nil {
		return false, fmt.Errorf("GET %s: %w", base+path, err)
	}
	return true, nil
}

// Balance reads GET /accounts/{user_id} of point-service.
func (c *Client) Balance(ctx context.Context, userID string) (int64, bool, error) {
	var acct struct {
		Balance int64 `json:"balance"`
	}
	found, err := get(ctx, c.pointHTTP, c.point, "/accounts/"+url.PathEscape(userID), &acct)
	return acct.Balance, found, err
}

// Owned reads GET /users/{user_id}/tickets of ticket-service.
func (c *Client) Owned(ctx context.Context, userID string) ([]app.Owned, error) {
	var held struct {
		Tickets []struct {
			TicketID string `json:"ticket_id"`
			Count    int64  `json:"count"`
		} `json:"tickets"`
	}
	if _, err := get(ctx, c.ticketHTTP, c.ticket, "/users/"+url.PathEscape(userID)+"/tickets", &held); err != nil {
		return nil, err
	}
	out := make([]app.Owned, len(held.Tickets))
	for i, t := range held.Tickets {
		out[i] = app.Owned{TicketID: t.TicketID, Count: t.Count}
	}
	return out, nil
}

// Catalog returns ticket-service's GET /tickets, at most catalogFresh old.
func (c *Client) Catalog(ctx context.Context) ([]app.OnSale, error) {
	c.catalogMu.Lock()
	cached, at := c.catalog, c.catalogAt
	c.catalogMu.Unlock()
	if cached != nil && time.Since(at) < catalogFresh {
		return cached, nil
	}
	v, err, _ := c.flight.Do("catalog", func() (any, error) {
		// Not the caller's context: one buyer leaving must not fail the
		// others waiting on this read.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), callTimeout)
		defer cancel()
		out, err := c.readCatalog(ctx)
		if err == nil {
			c.catalogMu.Lock()
			c.catalog, c.catalogAt = out, time.Now()
			c.catalogMu.Unlock()
		}
		return out, err
	})
	if err != nil {
		return nil, err
	}
	return v.([]app.OnSale), nil
}

func (c *Client) readCatalog(ctx context.Context) ([]app.OnSale, error) {
	var cat struct {
		Tickets []struct {
			TicketID string `json:"ticket_id"`
			Price    int64  `json:"price"`
			Stock    int64  `json:"stock"`
		} `json:"tickets"`
	}
	found, err := get(ctx, c.ticketHTTP, c.ticket, "/tickets", &cat)
	if err != nil {
		return nil, err
	}
	if !found {
		// A wrong URL, or a ticket-service without the catalog: not an
		// empty shop.
		return nil, fmt.Errorf("GET %s/tickets: 404", c.ticket)
	}
	out := make([]app.OnSale, len(cat.Tickets))
	for i, t := range cat.Tickets {
		out[i] = app.OnSale{TicketID: t.TicketID, Price: t.Price, Stock: t.Stock}
	}
	return out, nil
}
