package firestore

import (
	"context"
	"fmt"

	"cloud.google.com/go/firestore"

	"github.com/ticketsaga/saga/shared/saga"
	"github.com/ticketsaga/saga/ticket-service/internal/app"
	"github.com/ticketsaga/saga/ticket-service/records"
)

// Tickets lists up to limit ticket types in id order, each with its stock
// summed over its shards: the shop's catalog.
func (s *Store) Tickets(ctx context.Context, limit int) ([]app.Listed, error) {
	snaps, err := s.fs.Collection(records.Tickets).OrderBy(firestore.DocumentID, firestore.Asc).Limit(limit).Documents(ctx).GetAll()
	if err != nil {
		return nil, fmt.Errorf("list tickets: %w", err)
	}
	out := make([]app.Listed, 0, len(snaps))
	for _, snap := range snaps {
		// Each type's shards are read as GET /tickets/{id} reads them, so
		// the catalog shows the same stock.
		st, err := s.stockOf(ctx, snap)
		if saga.KindOf(err) == saga.Corrupt {
			// One unreadable type (reconciliation and GET
			// /tickets/{id} report it) must not hide the others.
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, app.Listed{TicketID: snap.Ref.ID, Stock: st})
	}
	return out, nil
}
