package candid

import (
	"encoding/json"
	"errors"

	fhirjson "github.com/switchboard-health/switchboard/mappings/fhir"
)

// candidEncounter is the part of Candid's Encounter (GET
// /api/encounters/v4/{encounter_id}) read back; nothing else is kept.
type candidEncounter struct {
	EncounterID string `json:"encounter_id"`
	ExternalID  string `json:"external_id"`
	CreatedAt   string `json:"created_at"`
	Patient     struct {
		ExternalID string `json:"external_id"`
	} `json:"patient"`
	SubscriberPrimary *struct {
		InsuranceCard struct {
			PayerName string `json:"payer_name"`
			PayerID   string `json:"payer_id"`
		} `json:"insurance_card"`
	} `json:"subscriber_primary"`
	Claims []struct {
		Status string `json:"status"`
	} `json:"claims"`
}

// Outcome maps a Candid claim status to FHIR's ClaimResponse.outcome
// (queued | complete | error | partial). Without a claim the encounter has
// not been submitted yet: queued.
func Outcome(status string) string {
	switch status {
	case "paid", "finalized_paid":
		return "complete"
	case "denied", "finalized_denied", "rejected", "not_billable":
		return "error"
	case "era_received", "era_requires_review", "paid_incorrectly":
		return "partial" // adjudicated, but the remittance needs a look
	default:
		// biller_received, coded, submitted_to_payer, missing_information,
		// waiting_for_provider, held_by_customer: not adjudicated yet.
		return "queued"
	}
}

// ClaimResponse maps a Candid encounter to a FHIR R4 ClaimResponse: status
// active, outcome from the latest claim's status, identifier
// SystemEncounter|encounter_id, request Claim/<external_id> (the Claim's
// id, as EncounterCreate sent it), patient Patient/<patient external id>,
// insurer the payer by name and id, and the tag fhirjson.OriginSystem|candid. No
// demographics, diagnoses or amounts are copied.
func ClaimResponse(src []byte) ([]byte, error) {
	var e candidEncounter
	if err := json.Unmarshal(src, &e); err != nil {
		return nil, errors.New("the Candid encounter is not valid JSON")
	}
	if e.EncounterID == "" {
		return nil, errors.New("the Candid encounter has no encounter_id")
	}
	status := ""
	if len(e.Claims) > 0 {
		status = e.Claims[len(e.Claims)-1].Status
	}
	insurer := map[string]any{"display": "unknown payer"}
	if s := e.SubscriberPrimary; s != nil && s.InsuranceCard.PayerName != "" {
		insurer = map[string]any{"display": s.InsuranceCard.PayerName}
		if s.InsuranceCard.PayerID != "" {
			insurer["identifier"] = map[string]any{"system": SystemPayer, "value": s.InsuranceCard.PayerID}
		}
	}
	cr := map[string]any{
		"resourceType": "ClaimResponse",
		"id":           e.EncounterID,
		"meta":         map[string]any{"tag": []any{fhirjson.OriginTag("candid")}},
		"identifier":   []any{map[string]any{"system": SystemEncounter, "value": e.EncounterID}},
		"status":       "active",
		"type": map[string]any{"coding": []any{map[string]any{
			"system": "http://terminology.hl7.org/CodeSystem/claim-type", "code": "professional"}}},
		"use":     "claim",
		"created": e.CreatedAt,
		"insurer": insurer,
		"outcome": Outcome(status),
	}
	if e.ExternalID != "" {
		cr["request"] = map[string]any{"reference": "Claim/" + e.ExternalID}
	}
	if e.Patient.ExternalID != "" {
		cr["patient"] = map[string]any{"reference": "Patient/" + e.Patient.ExternalID}
	}
	if status != "" {
		cr["disposition"] = "Candid claim status: " + status
	}
	return json.Marshal(cr)
}
