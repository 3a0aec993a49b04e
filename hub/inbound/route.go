// Package inbound takes one change a vendor reported (a webhook's, a
// poll's, a drift repair's) into the hub the same way wherever it came
// from: the ledger judges it, it is validated like a client's write, routed
// to every destination but its source, and only then remembered in the
// ledger. That last order matters: a crash between routing and
// remembering makes the change be judged and routed again under the same
// idempotency key (a replay, not a second transfer), where the reverse
// order would lose it.
package inbound

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/switchboard-health/switchboard/hub/ledger"
	"github.com/switchboard-health/switchboard/hub/transfer"
)

// Change is one vendor change to route.
type Change struct {
	// Source is the destination the change came from: never routed back.
	Source string
	// ClientID and IdempotencyKey name the transfer; the same change taken
	// twice replays the first.
	ClientID, IdempotencyKey string
	// Entry is the resource and what to do with it at the destinations.
	Entry transfer.Entry
	// ChangedAt is the vendor's time of the change.
	ChangedAt time.Time
	// Keys name the record in the ledger; none skips the ledger.
	Keys []string
	// Decided skips the ledger's judgement (a drift repair compared both
	// sides itself); the change is still remembered.
	Decided bool
}

// Outcome is what became of a change.
type Outcome string

const (
	Routed    Outcome = "routed"
	Replayed  Outcome = "replayed"  // taken before: the same transfer
	NoRoute   Outcome = "no_route"  // no destination but its source takes it
	Invalid   Outcome = "invalid"   // not valid FHIR: Result.Reason says why
	Unchanged Outcome = "unchanged" // the ledger knows this content: an echo
	Stale     Outcome = "stale"     // older than what the ledger knows
)

// Result reports a routed change.
type Result struct {
	Outcome Outcome
	// Transfer is the transfer made or replayed.
	Transfer transfer.Accepted
	// Reason is the validation failure of an Invalid change (PHI-free).
	Reason error
}

// Ledger is the hub's memory of vendor records (package ledger).
type Ledger interface {
	Judge(ctx context.Context, vendor string, keys []string, resource []byte, changedAt time.Time) (ledger.Verdict, error)
	Record(ctx context.Context, vendor string, keys []string, resource []byte, changedAt time.Time) error
}

// Acceptor routes a write (transfer.Service).
type Acceptor interface {
	Accept(ctx context.Context, sub transfer.Submission) (transfer.Accepted, error)
}

// Router routes changes. Ledger and Validate may be nil.
type Router struct {
	Ledger    Ledger
	Validate  func(resourceType string, body []byte) error
	Transfers Acceptor
}

// Route judges, validates, routes and remembers c. An error leaves the
// change untaken (retry it); transfer.ErrIdempotencyConflict is among them.
func (r Router) Route(ctx context.Context, c Change) (Result, error) {
	e := c.Entry
	useLedger := r.Ledger != nil && len(c.Keys) > 0
	if useLedger && !c.Decided {
		v, err := r.Ledger.Judge(ctx, c.Source, c.Keys, e.Resource, c.ChangedAt)
		if err != nil {
			return Result{}, fmt.Errorf("judge change: %w", err)
		}
		switch v {
		case ledger.Unchanged:
			return Result{Outcome: Unchanged}, nil
		case ledger.Stale:
			return Result{Outcome: Stale}, nil
		}
	}
	if r.Validate != nil {
		if err := r.Validate(e.ResourceType, e.Resource); err != nil {
			return Result{Outcome: Invalid, Reason: err}, nil
		}
	}
	acc, err := r.Transfers.Accept(ctx, transfer.Submission{
		ClientID: c.ClientID, IdempotencyKey: c.IdempotencyKey, Body: e.Resource, Kind: transfer.KindResource,
		Origin: c.Source, ChangedAt: c.ChangedAt, Entries: []transfer.Entry{e},
	})
	res := Result{Outcome: Routed, Transfer: acc}
	switch {
	case errors.Is(err, transfer.ErrNoDestination):
		res = Result{Outcome: NoRoute}
	case err != nil:
		return Result{}, fmt.Errorf("route change: %w", err)
	case acc.Replayed:
		res.Outcome = Replayed
	}
	if useLedger {
		if err := r.Ledger.Record(ctx, c.Source, c.Keys, e.Resource, c.ChangedAt); err != nil {
			return Result{}, fmt.Errorf("remember change: %w", err)
		}
	}
	return res, nil
}
