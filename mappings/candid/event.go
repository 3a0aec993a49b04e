package candid

import (
	"encoding/json"
	"errors"
	"time"
)

// Candid publishes no webhook catalogue. Switchboard takes claim status
// changes as a Standard Webhooks event (signed with webhook-id,
// webhook-timestamp, webhook-signature; the connector verifies it) whose
// body is:
//
//	{"type": "encounter.claim_status_updated",
//	 "timestamp": "2026-11-22T10:00:00Z",
//	 "data": <the encounter, as GET /api/encounters/v4/{encounter_id} answers it>}
//
// so that a relay polling Candid, or Candid itself should it add webhooks
// of this shape, feeds the same mapping as a read (ClaimResponse). This
// envelope is Switchboard's assumption, documented in the README.
const EventClaimStatusUpdated = "encounter.claim_status_updated"

// ErrIgnored is returned for an event the hub has no use for.
var ErrIgnored = errors.New("candid: event ignored")

// ClaimEvent is a claim status change mapped to FHIR. Only ClaimResponse
// holds anything about a patient (a reference).
type ClaimEvent struct {
	// EncounterID is Candid's encounter id: the ClaimResponse's identifier
	// (SystemEncounter), which the EHR upserts on.
	EncounterID string
	// At is when Candid says the change happened.
	At time.Time
	// ClaimResponse is FHIR R4 JSON.
	ClaimResponse json.RawMessage
}

// ClaimEventFromWebhook maps a verified event body. Events of another type
// give ErrIgnored; a malformed one a PHI-free error.
func ClaimEventFromWebhook(body []byte) (ClaimEvent, error) {
	var ev struct {
		Type      string          `json:"type"`
		Timestamp string          `json:"timestamp"`
		Data      json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &ev); err != nil || ev.Type == "" {
		return ClaimEvent{}, errors.New("candid event: not a JSON event with a type")
	}
	if ev.Type != EventClaimStatusUpdated {
		return ClaimEvent{}, ErrIgnored
	}
	cr, err := ClaimResponse(ev.Data)
	if err != nil {
		return ClaimEvent{}, err
	}
	var enc struct {
		EncounterID string `json:"encounter_id"`
		CreatedAt   string `json:"created_at"`
		Patient     struct {
			ExternalID string `json:"external_id"`
		} `json:"patient"`
	}
	_ = json.Unmarshal(ev.Data, &enc)
	// ClaimResponse.patient and .created are required in R4: an encounter
	// without them cannot become a valid one, and says so here rather than
	// as a validation failure after mapping.
	switch {
	case enc.Patient.ExternalID == "":
		return ClaimEvent{}, errors.New("candid event: the encounter has no patient.external_id")
	case enc.CreatedAt == "":
		return ClaimEvent{}, errors.New("candid event: the encounter has no created_at")
	}
	// The id is Candid's: the EHR gives the resource its own on create,
	// and an update finds it by identifier.
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(cr, &obj); err != nil {
		return ClaimEvent{}, err
	}
	delete(obj, "id")
	if cr, err = json.Marshal(obj); err != nil {
		return ClaimEvent{}, err
	}
	at, _ := time.Parse(time.RFC3339Nano, ev.Timestamp)
	return ClaimEvent{EncounterID: enc.EncounterID, At: at, ClaimResponse: cr}, nil
}
