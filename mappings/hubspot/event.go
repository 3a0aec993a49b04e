package hubspot

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	fhirjson "github.com/switchboard-health/switchboard/mappings/fhir"
)

// Inbound HubSpot webhooks (signature already verified): the body is a JSON
// array of events, each {eventId, subscriptionId, portalId, appId,
// occurredAt (Unix ms), subscriptionType, attemptNumber, objectId,
// propertyName, propertyValue, changeSource} (HubSpot's Webhooks API
// reference, developers.hubspot.com/docs/api/webhooks, "Webhook
// payloads"; object.propertyChange events of the newer subscriptions add
// objectTypeId, "0-1" for contacts).
//
// A change of the contact property hs_email_optout ("Unsubscribed from all
// email") becomes a FHIR R4 Consent about marketing (purpose HMARKT), as
// hub/consent reads it:
//
//	"true"   opted out: status active, provision.type deny, policyRule OPTOUT.
//	         The gate (hub/consent) grants only on an active Consent whose
//	         provision permits HMARKT, so this one never grants.
//	"false"  opted back in: status active, provision.type permit for HMARKT,
//	         policyRule OPTIN, provision.period.start the time of the change.
//
// The gate follows the patient's latest decision about HMARKT (the Consent
// with the latest dateTime), so an opt-out here revokes a permit the EHR got
// earlier elsewhere (a signed form), and a later signed form wins over an
// older opt-out. Each Consent carries one identifier per contact
// (MarketingConsentSystem, "{portalId}:{objectId}") and the hub upserts on
// it, so repeated changes of one contact update one Consent instead of
// piling up. The patient is referenced by the contact's identifier; the EHR
// connector resolves it to the EHR's Patient before writing, so the gate's
// Consent?patient= search finds it.
//
// Only the global hs_email_optout is read. The per-subscription
// hs_email_optout_{id} properties say nothing about marketing as a whole:
// turning one on or off must neither revoke nor grant HMARKT.
const (
	// PropEmailOptOut is HubSpot's "Unsubscribed from all email" property.
	PropEmailOptOut = "hs_email_optout"
	// MarketingConsentSystem identifies the marketing Consent of one
	// HubSpot contact; its value is "{portalId}:{objectId}".
	MarketingConsentSystem = "https://switchboard.health/id/hubspot-marketing-consent"
	// ActReasonSystem and PurposeMarketing are the purpose hub/consent asks
	// for (HL7 v3 ActReason HMARKT).
	ActReasonSystem  = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
	PurposeMarketing = "HMARKT"
)

// ErrIgnored is the Err of an event that maps to no Consent (another
// subscription type or property): the hub acknowledges it and does nothing.
var ErrIgnored = errors.New("hubspot webhook: event not mapped")

// Errors of a malformed body or event. They name the field, never its value.
var (
	ErrNotEvents       = errors.New("hubspot webhook: the body is not a JSON array of events")
	ErrEventObjectID   = errors.New("hubspot webhook: objectId is missing or not a positive integer")
	ErrEventOccurredAt = errors.New("hubspot webhook: occurredAt is missing or out of range")
	ErrEventOptOut     = errors.New("hubspot webhook: propertyValue of hs_email_optout is neither true nor false")
	ErrEventMalformed  = errors.New("hubspot webhook: an hs_email_optout event has a field of the wrong JSON type")
)

// ConsentEvent is one event of a HubSpot webhook body. Err is nil when
// Consent is set, ErrIgnored for an event not about marketing consent, or
// another error for a malformed event; the other events of the body are
// mapped regardless.
type ConsentEvent struct {
	// EventID is HubSpot's eventId, the de-duplication key (with
	// AttemptNumber telling a retry).
	EventID       string
	AttemptNumber int
	// ContactID is the objectId: the contact, whose Patient carries it as
	// identifier IdentifierSystem.
	ContactID string
	// OptedOut is true when the contact unsubscribed from all email.
	OptedOut   bool
	OccurredAt time.Time
	// KeySystem and KeyValue are the Consent's identifier, to upsert on.
	KeySystem, KeyValue string
	// Consent is the FHIR R4 Consent, keys sorted.
	Consent json.RawMessage
	Err     error
}

type hubspotEvent struct {
	EventID          json.Number `json:"eventId"`
	PortalID         json.Number `json:"portalId"`
	OccurredAt       json.Number `json:"occurredAt"`
	SubscriptionType string      `json:"subscriptionType"`
	ObjectTypeID     string      `json:"objectTypeId"`
	AttemptNumber    int         `json:"attemptNumber"`
	ObjectID         json.Number `json:"objectId"`
	PropertyName     string      `json:"propertyName"`
	PropertyValue    string      `json:"propertyValue"`
}

// ConsentEvents maps every event of a HubSpot webhook body, in order. It
// fails as a whole only when the body is not a JSON array.
func ConsentEvents(body []byte) ([]ConsentEvent, error) {
	var raws []json.RawMessage
	if err := json.Unmarshal(body, &raws); err != nil {
		return nil, ErrNotEvents
	}
	out := make([]ConsentEvent, 0, len(raws))
	for _, raw := range raws {
		out = append(out, consentEvent(raw))
	}
	return out, nil
}

func consentEvent(raw json.RawMessage) ConsentEvent {
	var e hubspotEvent
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&e); err != nil {
		// A field of the wrong JSON type. Silence would drop an opt-out:
		// say so when the event is about hs_email_optout.
		var head struct{ PropertyName string }
		if json.Unmarshal(raw, &head) == nil && head.PropertyName == PropEmailOptOut {
			return ConsentEvent{Err: ErrEventMalformed}
		}
		return ConsentEvent{Err: ErrIgnored}
	}
	ev := ConsentEvent{EventID: e.EventID.String(), AttemptNumber: e.AttemptNumber}
	contact := e.SubscriptionType == "contact.propertyChange" ||
		(e.SubscriptionType == "object.propertyChange" && e.ObjectTypeID == "0-1")
	if !contact || e.PropertyName != PropEmailOptOut {
		ev.Err = ErrIgnored
		return ev
	}
	id, err := strconv.ParseInt(e.ObjectID.String(), 10, 64)
	if err != nil || id <= 0 {
		ev.Err = ErrEventObjectID
		return ev
	}
	ev.ContactID = strconv.FormatInt(id, 10)
	ms, err := strconv.ParseInt(e.OccurredAt.String(), 10, 64)
	if err != nil || ms <= 0 || ms > 253402300799999 {
		ev.Err = ErrEventOccurredAt
		return ev
	}
	ev.OccurredAt = time.UnixMilli(ms).UTC()
	switch e.PropertyValue {
	case "true":
		ev.OptedOut = true
	case "false":
	default:
		ev.Err = ErrEventOptOut
		return ev
	}
	ev.KeySystem = MarketingConsentSystem
	ev.KeyValue = e.PortalID.String() + ":" + ev.ContactID
	if e.PortalID == "" {
		ev.KeyValue = ev.ContactID
	}
	ev.Consent = marketingConsent(ev)
	return ev
}

func marketingConsent(ev ConsentEvent) json.RawMessage {
	when := ev.OccurredAt.Format(time.RFC3339Nano)
	provision := map[string]any{
		"type":    "permit",
		"purpose": []any{map[string]any{"system": ActReasonSystem, "code": PurposeMarketing}},
		"period":  map[string]any{"start": when},
	}
	rule := "OPTIN"
	if ev.OptedOut {
		provision = map[string]any{
			"type":    "deny",
			"purpose": []any{map[string]any{"system": ActReasonSystem, "code": PurposeMarketing}},
		}
		rule = "OPTOUT"
	}
	c := map[string]any{
		"resourceType": "Consent",
		"meta":         map[string]any{"tag": []any{fhirjson.OriginTag(OriginCode)}},
		"identifier":   []any{map[string]any{"system": ev.KeySystem, "value": ev.KeyValue}},
		"status":       "active",
		"scope": map[string]any{"coding": []any{map[string]any{
			"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}}},
		"category": []any{map[string]any{"coding": []any{map[string]any{
			"system": "http://loinc.org", "code": "59284-0", "display": "Patient Consent"}}}},
		"patient": map[string]any{"type": "Patient",
			"identifier": map[string]any{"system": IdentifierSystem, "value": ev.ContactID}},
		"dateTime": when,
		// R4 invariant ppc-1 wants a policy or a policyRule.
		"policyRule": map[string]any{"coding": []any{map[string]any{
			"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": rule}}},
		"provision": provision,
	}
	out, _ := json.Marshal(c) // maps of strings: cannot fail; keys sorted
	return out
}
