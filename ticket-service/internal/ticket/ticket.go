// Package ticket is ticket-service's domain: ticket types with a unit
// price, and the per-order grant/cancel state machine. It decides on the
// ticket type, the stock available to a grant, the order's request and the
// order's saga; how the stock is stored (split over shard documents, which
// shards a grant takes from and a cancel gives back to) is the records'
// and the adapters' business.
package ticket

import (
	"math/bits"

	"github.com/ticketsaga/saga/shared/saga"
)

// Step names: the steps of ticket-service, and the keys of their events in its
// saga documents.
const (
	StepGrant  = "grant"
	StepCancel = "cancel"
)

// Ticket is a ticket type; nil means it does not exist.
type Ticket struct {
	Price int64 // points per ticket
}

// MaxShards is the most stock shards a ticket type can have: a PUT's
// shards and STOCK_SHARDS are at most this (400 invalid_shards), and the
// records refuse more. Enough for 5,000 grants per second at one write per
// second per shard and twice the shards the rate needs (docs/capacity.md).
// How the stock is split is storage's (package records); the limit is
// here because it is part of the API, and the application and the records
// both see the domain but not each other.
const MaxShards = 10_000

// PriceMatches reports whether quantity tickets at unit points each cost
// exactly total. The product is computed in 128 bits: a product that does
// not fit 64 bits matches no total, instead of wrapping around to a small
// one (a ticket sold for almost nothing).
func PriceMatches(unit, quantity, total int64) bool {
	if unit <= 0 || quantity <= 0 || total <= 0 {
		return false
	}
	hi, lo := bits.Mul64(uint64(unit), uint64(quantity))
	return hi == 0 && lo == uint64(total)
}

// State is where one order stands in ticket-service.
type State string

const (
	StateNone      State = ""
	StateGranted   State = "granted"
	StateFailed    State = "failed"
	StateCancelled State = "cancelled"
)

// Saga is ticket-service's record of one order.
type Saga struct {
	State    State
	UserID   string
	TicketID string
	Quantity int64 // tickets held while State is StateGranted
}

// Request is what the order asks for.
type Request struct {
	UserID   string
	TicketID string
	Quantity int64
	Price    int64 // total points agreed for Quantity tickets
}

// GrantResult is the grant step's decision: the saga granted with the
// request's Quantity, failed, or (after a cancel) left cancelled.
type GrantResult struct {
	Saga   Saga
	Reason string // empty when granted
}

// Grant decides whether the order gets its tickets. available is the
// stock the store found for this grant; the store calls Grant either with
// available >= req.Quantity, or with available all the stock the type has
// (a complete view), so that fewer than the quantity is sold_out and
// nothing is ever oversold. A granted order takes req.Quantity of the
// available tickets. With no ticket type (t nil), available is not read.
// The checks run in order: a cancelled saga fails with timeout, then an
// unknown ticket, a price mismatch, and the stock.
func Grant(s Saga, t *Ticket, available int64, req Request) GrantResult {
	failed := Saga{State: StateFailed, UserID: req.UserID, TicketID: req.TicketID}
	switch {
	case s.State == StateCancelled:
		return GrantResult{Saga: s, Reason: saga.ReasonTimeout}
	case t == nil:
		return GrantResult{Saga: failed, Reason: saga.ReasonUnknownTicket}
	case !PriceMatches(t.Price, req.Quantity, req.Price):
		return GrantResult{Saga: failed, Reason: saga.ReasonPriceMismatch}
	case available < req.Quantity:
		return GrantResult{Saga: failed, Reason: saga.ReasonSoldOut}
	}
	return GrantResult{Saga: Saga{State: StateGranted, UserID: req.UserID, TicketID: req.TicketID, Quantity: req.Quantity}}
}

// CancelResult is the cancel step's decision.
type CancelResult struct {
	Saga Saga
	Give int64 // tickets to put back: those the grant took, 0 without one
}

// Cancel takes back a grant: its tickets go back to the stock. With no
// grant it is a null compensation: it records that it ran, so a late grant
// is blocked.
func Cancel(s Saga) CancelResult {
	next := Saga{State: StateCancelled, UserID: s.UserID, TicketID: s.TicketID}
	if s.State != StateGranted {
		return CancelResult{Saga: next}
	}
	return CancelResult{Saga: next, Give: s.Quantity}
}

// Holding is how many tickets of one type a user owns.
type Holding struct {
	TicketID string
	Count    int64
}

// Holdings sums a user's granted sagas per ticket type, in order of first
// appearance, omitting zero counts.
func Holdings(sagas []Saga) []Holding {
	idx := map[string]int{}
	var out []Holding
	for _, s := range sagas {
		if s.State != StateGranted || s.Quantity == 0 {
			continue
		}
		i, ok := idx[s.TicketID]
		if !ok {
			i = len(out)
			idx[s.TicketID] = i
			out = append(out, Holding{TicketID: s.TicketID})
		}
		out[i].Count += s.Quantity
	}
	return out
}
