// Package consent gates deliveries on the patient's consent as recorded at
// the source of truth (the EHR), asked at delivery time and never stored by
// the hub (docs/decisions/0004-routing-is-data.md). The marketing destination
// is the reason: nothing goes there unless the patient has an active Consent
// permitting the purpose HMARKT (marketing, HL7 v3 ActReason).
//
//	destinations:
//	  marketing:
//	    type: hubspot
//	    projection: contact
//	    requires_consent:
//	      purpose: HMARKT     # a v3-ActReason code
//	      from: ehr           # a destination whose connector answers searches
//
// The patient's latest decision about the purpose decides: of the active
// Consents whose provision names the purpose (system
// http://terminology.hl7.org/CodeSystem/v3-ActReason), the one with the
// latest dateTime (else meta.lastUpdated) counts, so an opt-out recorded
// after an opt-in (a marketing unsubscribe arriving by webhook) revokes it
// from then on. That Consent grants when its provision.type is permit (or
// absent) and now falls within provision.period when one is given.
// Anything else, or no Consent at all, is a denial: the delivery is skipped ("no_consent"), never failed, and
// the EHR is asked again on the next message. A source that cannot be asked
// is a retryable failure: the delivery waits rather than guessing.
package consent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/switchboard-health/switchboard/connectors"
	"github.com/switchboard-health/switchboard/hub/delivery"
)

// ActReason is the code system of consent purposes.
const ActReason = "http://terminology.hl7.org/CodeSystem/v3-ActReason"

// Reasons a delivery is skipped (PHI-free, recorded in the status).
const (
	ReasonNoSubject = "no_subject"        // the resource names no patient
	ReasonNoPatient = "patient_not_found" // the EHR does not know the patient
	ReasonNoConsent = "no_consent"        // no active, permitting, current Consent for the purpose
	maxPages        = 5                   // Consents per patient are few; bound the paging anyway
	maxPatients     = 5                   // identifiers matching several records: ask for each, up to this
	purposeSystem   = ActReason
)

// Gate asks Source for the subject's Consents.
type Gate struct {
	// Purpose is the v3-ActReason code required, e.g. HMARKT.
	Purpose string
	// Source answers Patient and Consent searches (the EHR connector).
	Source connectors.Searcher
	// Now defaults to time.Now.
	Now func() time.Time
}

// Allow implements delivery.Gate.
func (g *Gate) Allow(ctx context.Context, s *delivery.Subject) (bool, string, error) {
	if s == nil || (s.ID == "" && len(s.Identifiers) == 0) {
		return false, ReasonNoSubject, nil
	}
	ids, err := g.patientIDs(ctx, s)
	if err != nil {
		return false, "", err
	}
	if len(ids) == 0 {
		return false, ReasonNoPatient, nil
	}
	now := time.Now()
	if g.Now != nil {
		now = g.Now()
	}
	var latest decision
	for _, id := range ids {
		q := connectors.SearchQuery{ResourceType: "Consent", Params: url.Values{"patient": {"Patient/" + id}}}
		for range maxPages {
			page, err := g.Source.Search(ctx, q)
			if err != nil {
				return false, "", consentErr(err)
			}
			if err := g.applied(ctx, q, page); err != nil {
				return false, "", err
			}
			for _, r := range page.Resources {
				if d, ok := decide(r, g.Purpose, now); ok && (!latest.found || d.at.After(latest.at)) {
					latest = d
				}
			}
			if page.Next == "" {
				break
			}
			q.Cursor = page.Next
		}
	}
	if latest.found && latest.grants {
		return true, "", nil
	}
	return false, ReasonNoConsent, nil
}

// decision is one Consent's answer about the purpose, and when it was made.
type decision struct {
	found, grants bool
	at            time.Time
}

// patientIDs finds the patient's logical ids at the source: by identifier
// when the resource has one (the id a client gave at create is not the
// EHR's), else the id itself.
func (g *Gate) patientIDs(ctx context.Context, s *delivery.Subject) ([]string, error) {
	for _, ident := range s.Identifiers {
		if ident.System == "" || ident.Value == "" {
			continue
		}
		q := connectors.SearchQuery{ResourceType: "Patient", Params: url.Values{"identifier": {ident.System + "|" + ident.Value}}}
		page, err := g.Source.Search(ctx, q)
		if err != nil {
			return nil, consentErr(err)
		}
		if err := g.applied(ctx, q, page); err != nil {
			return nil, err
		}
		var ids []string
		for _, r := range page.Resources {
			var p struct{ ResourceType, ID string }
			if json.Unmarshal(r, &p) == nil && p.ResourceType == "Patient" && p.ID != "" && len(ids) < maxPatients {
				ids = append(ids, p.ID)
			}
		}
		if len(ids) > 0 {
			return ids, nil
		}
	}
	if s.ID != "" {
		return []string{s.ID}, nil
	}
	return nil, nil
}

// applied fails (retryable, like any lookup that could not be answered)
// when the source did not apply every parameter of a first page: an EHR
// that ignored patient= answers with every patient's Consents, and another
// patient's permit would let this one's marketing through.
func (g *Gate) applied(ctx context.Context, q connectors.SearchQuery, page connectors.SearchPage) error {
	if q.Cursor != "" {
		return nil // the first page was checked; the source's next link continues it
	}
	missing, err := connectors.Unapplied(ctx, g.Source, q, page)
	if err == nil && len(missing) > 0 {
		err = &connectors.Error{Class: connectors.Permanent, Code: "search_param_ignored",
			Err: fmt.Errorf("the source did not apply %s to a %s search", strings.Join(missing, ", "), q.ResourceType)}
	}
	if err != nil {
		return consentErr(err)
	}
	return nil
}

// consentErr keeps the source's classification but never lets a permanent
// answer (a 4xx from the EHR) fail the delivery for good: the consent could
// not be read, so the delivery waits and is tried again.
func consentErr(err error) error {
	var ce *connectors.Error
	if errors.As(err, &ce) {
		if ce.Class == connectors.Permanent {
			return &connectors.Error{Class: connectors.Retryable, Status: ce.Status, Code: "consent_lookup:" + ce.Code, Err: ce.Err}
		}
		return &connectors.Error{Class: ce.Class, Status: ce.Status, RetryAfter: ce.RetryAfter, Code: "consent_lookup:" + ce.Code, Err: ce.Err}
	}
	return &connectors.Error{Class: connectors.Retryable, Code: "consent_lookup", Err: err}
}

// decide reads one Consent: ok when it is an active Consent whose provision
// names purpose, with whether it permits it now and when it was made.
func decide(raw json.RawMessage, purpose string, now time.Time) (decision, bool) {
	var c struct {
		ResourceType string `json:"resourceType"`
		Status       string `json:"status"`
		DateTime     string `json:"dateTime"`
		Meta         struct {
			LastUpdated string `json:"lastUpdated"`
		} `json:"meta"`
		Provision *struct {
			Type    string `json:"type"`
			Period  *struct{ Start, End string }
			Purpose []struct{ System, Code string }
		} `json:"provision"`
	}
	if json.Unmarshal(raw, &c) != nil || c.ResourceType != "Consent" || c.Status != "active" || c.Provision == nil {
		return decision{}, false
	}
	p := c.Provision
	named := false
	for _, pu := range p.Purpose {
		if pu.Code == purpose && (pu.System == "" || pu.System == purposeSystem) {
			named = true
		}
	}
	if !named {
		return decision{}, false
	}
	d := decision{found: true, grants: (p.Type == "" || p.Type == "permit") && (p.Period == nil || within(now, p.Period.Start, p.Period.End))}
	for _, s := range []string{c.DateTime, c.Meta.LastUpdated} {
		if t, ok := parseFHIRTime(s, false); ok {
			d.at = t
			break
		}
	}
	return d, true
}

// within reports whether now lies in [start, end]; FHIR dateTimes may be
// partial (2026, 2026-05, 2026-05-01) and an unreadable bound denies.
func within(now time.Time, start, end string) bool {
	if start != "" {
		t, ok := parseFHIRTime(start, false)
		if !ok || now.Before(t) {
			return false
		}
	}
	if end != "" {
		t, ok := parseFHIRTime(end, true)
		if !ok || now.After(t) {
			return false
		}
	}
	return true
}

// parseFHIRTime reads a FHIR date or dateTime; a partial date as an end
// bound means the end of that year, month or day.
func parseFHIRTime(s string, end bool) (time.Time, bool) {
	for _, f := range []struct {
		layout string
		add    func(time.Time) time.Time
	}{
		{time.RFC3339Nano, nil},
		{"2006-01-02", func(t time.Time) time.Time { return t.AddDate(0, 0, 1) }},
		{"2006-01", func(t time.Time) time.Time { return t.AddDate(0, 1, 0) }},
		{"2006", func(t time.Time) time.Time { return t.AddDate(1, 0, 0) }},
	} {
		t, err := time.Parse(f.layout, s)
		if err != nil {
			continue
		}
		if end && f.add != nil {
			t = f.add(t).Add(-time.Nanosecond)
		}
		return t, true
	}
	return time.Time{}, false
}
