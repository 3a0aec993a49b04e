package delivery

import (
	"context"

	"github.com/switchboard-health/switchboard/hub/seal"
)

// Gate waits. A gate asks its source (the EHR) about the patient: whether
// she has consented to marketing. When the same transfer carries what the
// answer depends on to that source (the new Patient herself, a Consent),
// the gated delivery waits until the source has it (Payload.GateWaits);
// asked earlier, the source would answer about a patient it does not have
// yet ("patient_not_found") or without her decision. If one of those
// entries ends failed (or discarded) at the source instead, the answer
// would be about a record the source never received: the gated delivery
// fails with CodeGateSourceFailed rather than wait for ever or guess, and
// can be replayed once that entry has been.

// CodeGateSourceFailed is the code of a delivery whose gate waited for an
// entry of the same transfer to reach the gate's source, and that entry's
// delivery there failed for good.
const CodeGateSourceFailed = "gate_source_failed"

// States reads a delivery's state (Table.DeliveryState).
type States interface {
	DeliveryState(ctx context.Context, transferID string, entry int, destination string) (state string, ref *seal.Envelope, found bool, err error)
}

// gateWait is what the entries a gate waits for say.
type gateWait int

const (
	gateReady        gateWait = iota // all there (or not sent there at all): ask the gate
	gatePending                      // one is still on its way to the source
	gateSourceFailed                 // one failed at the source for good
)

// gateWaiting reports whether the entries a gate waits for have reached
// the gate's source. A failure decides at once, whatever the others do.
func (w *Worker) gateWaiting(ctx context.Context, transferID string, g *GateWaits) (gateWait, error) {
	out := gateReady
	for _, e := range g.Entries {
		state, _, found, err := w.States.DeliveryState(ctx, transferID, e, g.Source)
		switch {
		case err != nil:
			return gateReady, err
		case !found:
			// Not routed to the source after all (it was the origin of a
			// vendor's change): nothing to wait for.
		case state == StateFailed || state == StateDiscarded:
			return gateSourceFailed, nil
		case !Final(state):
			out = gatePending
		}
	}
	return out, nil
}
