// Package delivery owns a delivery's life
// (docs/decisions/0013-delivery-owns-its-life.md): its row in
// switchboard_delivery and its River job, from the accept that inserts both
// through outcomes, the order per subject and the vendor ids it keeps, to a
// replay, a discard or the purge (Table). It also holds the deliver job:
// its sealed arguments, the worker that opens them, maps and sends through
// a connector, and the rules that turn a connector's answer into River's
// next step (complete, retry with backoff, honour Retry-After, snooze
// behind an open breaker, or give up as a failed sync).
package delivery

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/switchboard-health/switchboard/connectors"
	"github.com/switchboard-health/switchboard/hub/seal"
)

// Kind is the River job kind of a delivery.
const Kind = "switchboard.deliver"

// Args is everything River stores for a delivery: routing facts that are not
// PHI, and the payload sealed. Nothing here may ever hold a clear resource.
type Args struct {
	TransferID  string        `json:"transfer_id"`
	Entry       int           `json:"entry"`
	Destination string        `json:"destination"`
	Sealed      seal.Envelope `json:"sealed"`
}

// Kind implements river.JobArgs.
func (Args) Kind() string { return Kind }

// AAD binds an envelope to one job, so ciphertext moved into another job's
// args fails to open rather than reaching the wrong destination.
func AAD(transferID string, entry int, destination string) []byte {
	return []byte(Kind + "|" + transferID + "|" + strconv.Itoa(entry) + "|" + destination)
}

// Payload is the sealed content of a delivery.
type Payload struct {
	Interaction  connectors.Interaction `json:"interaction"`
	ResourceType string                 `json:"resource_type"`
	ResourceID   string                 `json:"resource_id,omitempty"`
	Resource     json.RawMessage        `json:"resource"`
	// KeyGeneration changes the vendor idempotency key on a deliberate replay
	// after a vendor cached a failure
	// (docs/decisions/0005-delivery-semantics.md); automatic retries keep it.
	KeyGeneration int `json:"key_generation,omitempty"`
	// Subject names the patient the resource is about, taken before the
	// destination's projection (which may drop identifiers), for gates such
	// as the marketing consent check. Sealed with the rest: it is PHI.
	Subject *Subject `json:"subject,omitempty"`
	// Related holds the other entries of the same Bundle this resource
	// refers to, each through the destination's projection
	// (connectors.Delivery.Related). PHI, sealed with the rest.
	Related map[string]json.RawMessage `json:"related,omitempty"`
	// RelatedEntry gives the Bundle entry index of every reference in
	// Related (and of those the projection left out), so the worker can
	// find what the destination made of that entry (its vendor id) and
	// refer to it by the vendor's own id.
	RelatedEntry map[string]int `json:"related_entry,omitempty"`
	// Referenced says a later entry of the same transfer needs what the
	// destination makes of this one (its id), or the identity write-back
	// does: the worker then keeps that id, sealed, on the delivery row.
	Referenced bool `json:"referenced,omitempty"`
	// GateWaits lists the entries of the same transfer the destination's
	// gate must see at its source first (the Patient marketing is asked
	// about, and any Consent, on their way to the EHR), by the source's
	// name (gatewait.go).
	GateWaits *GateWaits `json:"gate_waits,omitempty"`
	// Match finds the record an update without ResourceID changes
	// (connectors.Delivery.Match).
	Match string `json:"match,omitempty"`
	// ChangedAt is the vendor time of the change carried, for a change a
	// vendor reported (connectors.Delivery.ChangedAt).
	ChangedAt time.Time `json:"changed_at,omitzero"`
}

// GateWaits names entries a gate waits for at its source.
type GateWaits struct {
	Source  string `json:"source"`
	Entries []int  `json:"entries"`
}

// Subject identifies a patient at the source of truth (the EHR): by its
// logical id there when known, else by its business identifiers.
type Subject struct {
	ID          string       `json:"id,omitempty"`
	Identifiers []Identifier `json:"identifiers,omitempty"`
}

// Identifier is a FHIR identifier's system and value.
type Identifier struct {
	System string `json:"system"`
	Value  string `json:"value"`
}

// QueueName is the River queue of a destination. One queue per destination
// bounds each vendor's share of the workers, so a slow or failing vendor
// cannot hold back deliveries to the others.
func QueueName(destination string) string { return "deliver_" + destination }

// IdempotencyKey is the key sent to the vendor: stable for every automatic
// retry of one (transfer, entry, destination), so at-least-once delivery has
// one effect at the vendor.
func IdempotencyKey(transferID string, entry int, destination string, generation int) string {
	k := "sb-" + transferID + "-" + strconv.Itoa(entry) + "-" + destination
	if generation > 0 {
		k += "-g" + strconv.Itoa(generation)
	}
	return k
}
