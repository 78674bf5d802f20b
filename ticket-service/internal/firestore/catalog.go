package firestore

import (
	"context"
	"fmt"

	"cloud.google.com/go/firestore"
	"golang.org/x/sync/errgroup"

	"github.com/ticketsaga/saga/shared/saga"
	"github.com/ticketsaga/saga/ticket-service/internal/app"
	"github.com/ticketsaga/saga/ticket-service/records"
)

// catalogReads is how many ticket types the catalog sums at once.
const catalogReads = 8

// Tickets lists up to limit ticket types in id order, each with its stock
// summed over its shards: the shop's catalog.
func (s *Store) Tickets(ctx context.Context, limit int) ([]app.Listed, error) {
	snaps, err := s.fs.Collection(records.Tickets).OrderBy(firestore.DocumentID, firestore.Asc).Limit(limit).Documents(ctx).GetAll()
	if err != nil {
		return nil, fmt.Errorf("list tickets: %w", err)
	}
	listed := make([]*app.Listed, len(snaps))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(catalogReads)
	for i, snap := range snaps {
		g.Go(func() error {
			// Each type's stock is summed as GET /tickets/{id} sums it, so
			// the catalog shows the same stock.
			st, err := s.stockOf(gctx, snap)
			if saga.KindOf(err) == saga.Corrupt {
				// One unreadable type (reconciliation and GET
				// /tickets/{id} report it) must not hide the others.
				return nil
			}
			if err != nil {
				return err
			}
			listed[i] = &app.Listed{TicketID: snap.Ref.ID, Stock: st}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	out := make([]app.Listed, 0, len(listed))
	for _, l := range listed {
		if l != nil {
			out = append(out, *l)
		}
	}
	return out, nil
}
