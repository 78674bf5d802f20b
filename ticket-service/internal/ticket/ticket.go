// Package ticket is ticket-service's domain: ticket types with a unit price
// and a stock, and the per-order grant/cancel state machine.
package ticket

// Failure reasons of the grant step (CONTRACT §2).
const (
	ReasonSoldOut       = "sold_out"
	ReasonUnknownTicket = "unknown_ticket"
	ReasonPriceMismatch = "price_mismatch"
	// ReasonCompensated: the order's cancel already ran, so a late grant
	// must not take stock.
	ReasonCompensated = "timeout"
)

// Ticket is a ticket type; nil means it does not exist.
type Ticket struct {
	Price int64 // points per ticket
	Stock int64
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

// GrantResult is the grant step's decision.
type GrantResult struct {
	Saga   Saga
	Ticket *Ticket // the new stock, nil when unchanged
	Reason string  // empty when granted
}

// Grant decides whether the order gets its tickets.
func Grant(s Saga, t *Ticket, req Request) GrantResult {
	failed := Saga{State: StateFailed, UserID: req.UserID, TicketID: req.TicketID}
	switch {
	case s.State == StateCancelled:
		return GrantResult{Saga: s, Reason: ReasonCompensated}
	case t == nil:
		return GrantResult{Saga: failed, Reason: ReasonUnknownTicket}
	case t.Price*req.Quantity != req.Price:
		return GrantResult{Saga: failed, Reason: ReasonPriceMismatch}
	case t.Stock < req.Quantity:
		return GrantResult{Saga: failed, Reason: ReasonSoldOut}
	}
	return GrantResult{
		Saga:   Saga{State: StateGranted, UserID: req.UserID, TicketID: req.TicketID, Quantity: req.Quantity},
		Ticket: &Ticket{Price: t.Price, Stock: t.Stock - req.Quantity},
	}
}

// CancelResult is the cancel step's decision.
type CancelResult struct {
	Saga   Saga
	Ticket *Ticket // the new stock, nil when unchanged
}

// Cancel takes back a grant. With no grant it is a null compensation: it
// records that it ran, so a late grant is blocked.
func Cancel(s Saga, t *Ticket) CancelResult {
	next := Saga{State: StateCancelled, UserID: s.UserID, TicketID: s.TicketID}
	if s.State != StateGranted || t == nil {
		return CancelResult{Saga: next}
	}
	return CancelResult{Saga: next, Ticket: &Ticket{Price: t.Price, Stock: t.Stock + s.Quantity}}
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
