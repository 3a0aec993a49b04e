package delivery

import (
	"context"
	"log/slog"
	"time"

	"github.com/switchboard-health/switchboard/connectors"
	"github.com/switchboard-health/switchboard/hub/ledger"
	fhirjson "github.com/switchboard-health/switchboard/mappings/fhir"
)

// CodeSuperseded is the code of a delivery skipped because the record
// changed at the destination after the change it carries.
const CodeSuperseded = "superseded"

// Ledger is the hub's memory of vendor records it syncs (package ledger).
type Ledger interface {
	Record(ctx context.Context, vendor string, keys []string, resource []byte, changedAt time.Time) error
	Newer(ctx context.Context, vendor string, keys []string, changedAt time.Time) (bool, error)
}

// supersededHere reports whether the hub already knows the record d would
// change at its destination to have changed after d's change (a vendor
// change only: a client's write has no ChangedAt and always goes). The
// record is the one d.Match addresses, or the one whose id at the
// destination d carries as an identifier of the destination's system.
func (w *Worker) supersededHere(ctx context.Context, dest Destination, d connectors.Delivery) (bool, error) {
	if d.ChangedAt.IsZero() || !w.syncs(d) {
		return false, nil
	}
	var keys []string
	if d.Match != "" {
		keys = append(keys, ledger.MatchKey(d.ResourceType, d.Match))
	}
	if id, ok := dest.Connector.(connectors.Identified); ok {
		if system := id.IdentifierSystem(d.ResourceType); system != "" {
			for _, x := range fhirjson.Identifiers(d.Resource, system) {
				if x.System == system {
					keys = append(keys, d.ResourceType+"/"+x.Value)
				}
			}
		}
	}
	return w.Ledger.Newer(ctx, d.Destination, keys, d.ChangedAt)
}

// syncs reports whether d's destination reports changes of d's type back
// (and there is a ledger to remember them in).
func (w *Worker) syncs(d connectors.Delivery) bool {
	types, ok := w.Synced[d.Destination]
	return w.Ledger != nil && ok && (types == nil || types[d.ResourceType])
}

// wrote remembers what a destination that reports changes now holds, so
// that the change coming back is known for the hub's own: before the send
// under the keys known then (the record's identifiers, the match: see
// Worker.deliver), after it under the vendor's id for the record
// (vendorID; "" adds nothing). Failing to is logged: the echo is then
// routed once more and converges, since the vendor that made it drops it
// as unchanged.
func (w *Worker) wrote(ctx context.Context, log *slog.Logger, d connectors.Delivery, vendorID string) {
	if !w.syncs(d) {
		return
	}
	var keys []string
	if vendorID != "" {
		keys = ledger.Keys(d.ResourceType, vendorID, nil)
	} else {
		keys = ledger.Keys(d.ResourceType, "", d.Resource)
		if d.Match != "" {
			keys = append(keys, ledger.MatchKey(d.ResourceType, d.Match))
		}
	}
	if len(keys) == 0 {
		return
	}
	if err := w.Ledger.Record(context.WithoutCancel(ctx), d.Destination, ledger.Dedup(keys), d.Resource, d.ChangedAt); err != nil {
		log.Error("could not remember what was written (its echo will be routed once)", "error", err)
	}
}
