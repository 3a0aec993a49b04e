package server_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-health/switchboard/hub/transfer"
)

// marketingRoutes adds a marketing destination (a FHIR sandbox standing in
// for the marketing vendor) that receives the contact projection and only
// with the patient's HMARKT consent at the EHR.
const marketingRoutes = `destinations:
  ehr:
    type: fhir
    config: {base_url: %[1]q}
  payments:
    type: stripe
    config: {base_url: %[2]q, api_key_env: STRIPE_KEY_FOR_TEST}
  marketing:
    type: fhir
    projection: contact
    requires_consent: {purpose: HMARKT, from: ehr}
    config: {base_url: %[3]q}
routes:
  - {resource: Patient, to: [ehr, marketing]}
`

// TestMarketingNeedsConsentAndGetsContactFieldsOnly: a patient with an
// active HMARKT Consent at the EHR reaches marketing with contact fields
// only (no birth date, address, identifiers, extensions or contained
// clinical resources); a patient without one never reaches it, and the
// transfer says "skipped", not failed.
func TestMarketingNeedsConsentAndGetsContactFieldsOnly(t *testing.T) {
	for _, dialect := range dialects {
		t.Run(dialect, func(t *testing.T) {
			h := startWith(t, dialect, marketingRoutes)
			// The EHR already knows the consenting patient and her consent.
			consenting := h.seedEHR("Patient", `{"resourceType":"Patient","identifier":[{"system":"https://clinic.example/mrn","value":"MRN-C"}]}`)
			h.seedEHR("Consent", `{"resourceType":"Consent","status":"active","scope":{"text":"privacy"},"category":[{"text":"marketing"}],`+
				`"patient":{"reference":"Patient/`+consenting+`"},"provision":{"type":"permit","purpose":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActReason","code":"HMARKT"}]}}`)

			clinical := `"birthDate":"1990-03-04","gender":"female","address":[{"city":"Zzcity"}],` +
				`"extension":[{"url":"http://example.org/ext","valueString":"Zzextension"}],` +
				`"contained":[{"resourceType":"Condition","id":"c1","code":{"text":"Zzcondition"},"subject":{"reference":"#"}}],`
			for _, c := range []struct {
				mrn, family string
				want        string
			}{
				{"MRN-C", "Consenting", "delivered"},
				{"MRN-N", "Nonconsenting", "skipped"},
			} {
				r := h.post("/fhir/R4/Patient", `{"resourceType":"Patient",`+clinical+
					`"identifier":[{"system":"https://clinic.example/mrn","value":"`+c.mrn+`"}],`+
					`"name":[{"family":"`+c.family+`","given":["Ada"]}],"telecom":[{"system":"email","value":"ada@example.org"}]}`)
				if r.status != http.StatusAccepted {
					t.Fatalf("%s: %d %s", c.mrn, r.status, r.body)
				}
				st := h.waitFor(r.header.Get("Content-Location"), 10*time.Second)
				var got string
				for _, d := range st.Deliveries {
					if d.Destination == "marketing" {
						got = d.State
						// The patient this transfer creates is asked about once
						// the EHR has her: never "patient_not_found".
						if got == "skipped" && d.ErrorCode != "no_consent" {
							t.Fatalf("skip reason: %+v", d)
						}
					}
				}
				if got != c.want || st.State != "delivered" {
					t.Fatalf("%s: marketing %q (want %q), transfer %q: %+v", c.mrn, got, c.want, st.State, st)
				}
			}
			// What the marketing sink holds: the consenting patient's contact fields, nothing else.
			resp, err := http.Get(h.marketing.URL + "/fhir/R4/Patient")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var bundle struct {
				Entry []struct{ Resource map[string]json.RawMessage } `json:"entry"`
			}
			if err := json.Unmarshal(body, &bundle); err != nil || len(bundle.Entry) != 1 {
				t.Fatalf("marketing holds %d patients, want 1: %s", len(bundle.Entry), body)
			}
			for k := range bundle.Entry[0].Resource {
				switch k {
				case "resourceType", "id", "name", "telecom", "meta":
				default:
					t.Errorf("marketing received %q", k)
				}
			}
			for _, leaked := range []string{"Nonconsenting", "Zz", "1990-03-04", "MRN-", "female"} {
				if strings.Contains(string(body), leaked) {
					t.Errorf("marketing received %q: %s", leaked, body)
				}
			}
			if !strings.Contains(string(body), "Consenting") || !strings.Contains(string(body), "ada@example.org") {
				t.Errorf("marketing lacks the consenting patient's contact: %s", body)
			}
		})
	}
}

// seedEHR creates a resource at the EHR sandbox directly and returns its id.
func (h *harness) seedEHR(typ, body string) string {
	h.t.Helper()
	resp, err := http.Post(h.ehr.URL+"/fhir/R4/"+typ, "application/fhir+json", strings.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct{ ID string }
	_ = json.NewDecoder(resp.Body).Decode(&r)
	if resp.StatusCode != http.StatusCreated || r.ID == "" {
		h.t.Fatalf("seed %s: %d", typ, resp.StatusCode)
	}
	return r.ID
}

// bundleConsentRoutes: Patients to the EHR and the consent-gated
// marketing sink, Consents to the EHR.
const bundleConsentRoutes = `destinations:
  ehr:
    type: fhir
    config: {base_url: %[1]q}
  payments:
    type: stripe
    config: {base_url: %[2]q, api_key_env: STRIPE_KEY_FOR_TEST}
  marketing:
    type: fhir
    projection: contact
    requires_consent: {purpose: HMARKT, from: ehr}
    config: {base_url: %[3]q}
routes:
  - {resource: Patient, to: [ehr, marketing]}
  - {resource: Consent, to: [ehr]}
`

// newPatientBundle is a Bundle of the given type with a new Patient (by
// her MRN) and, with consent, her marketing Consent referring to her.
func newPatientBundle(kind, mrn string, consent bool) string {
	entries := `{"fullUrl":"urn:uuid:b0000000-0000-4000-8000-000000000001","request":{"method":"POST","url":"Patient"},
  "resource":{"resourceType":"Patient","identifier":[{"system":"https://clinic.example/mrn","value":"` + mrn + `"}],
  "name":[{"family":"Zznew` + mrn + `"}],"telecom":[{"system":"email","value":"` + mrn + `@example.org"}]}}`
	if consent {
		entries += `,{"fullUrl":"urn:uuid:b0000000-0000-4000-8000-000000000002","request":{"method":"POST","url":"Consent"},
  "resource":{"resourceType":"Consent","status":"active","scope":{"text":"privacy"},"category":[{"text":"marketing"}],
  "patient":{"reference":"urn:uuid:b0000000-0000-4000-8000-000000000001"},"dateTime":"2026-11-20T10:00:00Z",
  "provision":{"type":"permit","purpose":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActReason","code":"HMARKT"}]}}}`
	}
	return `{"resourceType":"Bundle","type":"` + kind + `","entry":[` + entries + `]}`
}

// TestNewPatientsConsentIsAskedOnceTheEHRHasHer: the marketing delivery of
// a new patient waits for her own delivery to the EHR (and her Consent's,
// when the Bundle has one), then asks: "delivered" with a marketing
// Consent, "skipped" with "no_consent" without one, never
// "patient_not_found" for a patient the same transfer was creating. The
// EHR answers the Patient's first writes 503, so she arrives there late, as
// from a slow EHR. If the EHR refuses the Patient for good, the marketing
// delivery does not wait for ever: it fails with "gate_source_failed".
func TestNewPatientsConsentIsAskedOnceTheEHRHasHer(t *testing.T) {
	for _, dialect := range dialects {
		t.Run(dialect, func(t *testing.T) {
			h := startWith(t, dialect, bundleConsentRoutes)
			var refused string
			for _, c := range []struct {
				name, path, body, faults string
				wantState, wantCode      string
			}{
				{"transaction with her Consent", "/fhir/R4", newPatientBundle("transaction", "MRN-T1", true), `{"fail_next": 2, "fail_status": 503}`, "delivered", ""},
				{"transaction without consent", "/fhir/R4", newPatientBundle("transaction", "MRN-T2", false), `{"fail_next": 2, "fail_status": 503}`, "skipped", "no_consent"},
				{"batch with her Consent", "/fhir/R4", newPatientBundle("batch", "MRN-B1", true), `{"fail_next": 2, "fail_status": 503}`, "delivered", ""},
				{"batch without consent", "/fhir/R4", newPatientBundle("batch", "MRN-B2", false), `{"fail_next": 2, "fail_status": 503}`, "skipped", "no_consent"},
				{"a single POST of a new patient", "/fhir/R4/Patient", `{"resourceType":"Patient","identifier":[{"system":"https://clinic.example/mrn","value":"MRN-S1"}],
  "name":[{"family":"ZznewMRN-S1"}],"telecom":[{"system":"email","value":"MRN-S1@example.org"}]}`, `{"fail_next": 2, "fail_status": 503}`, "skipped", "no_consent"},
				{"the EHR refuses the new patient", "/fhir/R4", newPatientBundle("transaction", "MRN-R1", false), `{"reject_next": 1}`, "failed", "gate_source_failed"},
			} {
				h.ehrFaults(c.faults)
				r := h.post(c.path, c.body)
				if r.status != http.StatusAccepted {
					t.Fatalf("%s: %d %s", c.name, r.status, r.body)
				}
				st := h.waitFor(r.header.Get("Content-Location"), 20*time.Second)
				var marketing, ehr *transfer.DeliveryStatus
				for i, d := range st.Deliveries {
					switch {
					case d.Destination == "marketing":
						marketing = &st.Deliveries[i]
					case d.Destination == "ehr" && d.ResourceType == "Patient":
						ehr = &st.Deliveries[i]
					}
				}
				if marketing == nil || ehr == nil {
					t.Fatalf("%s: deliveries %+v", c.name, st.Deliveries)
				}
				if marketing.State != c.wantState || marketing.ErrorCode != c.wantCode {
					t.Fatalf("%s: marketing %s %q, want %s %q (the EHR's Patient: %s %q)", c.name,
						marketing.State, marketing.ErrorCode, c.wantState, c.wantCode, ehr.State, ehr.ErrorCode)
				}
				if c.wantCode == "gate_source_failed" {
					if ehr.State != "failed" || st.State != "failed" {
						t.Fatalf("%s: the EHR's Patient %s, transfer %s", c.name, ehr.State, st.State)
					}
					refused = r.header.Get("Content-Location")
				}
			}
			// Replayed, the EHR's delivery first: the marketing one waits for
			// it again and then gets its answer.
			var bulk struct{ Matched, Replayed int }
			for _, dest := range []string{"ehr", "marketing"} {
				h.decode(h.as(h.adminToken, http.MethodPost, "/admin/replay", `{"filter":{"destination":"`+dest+`"}}`), http.StatusOK, &bulk)
				if bulk.Replayed != 1 {
					t.Fatalf("replay at %s: %+v", dest, bulk)
				}
			}
			st := h.waitFor(refused, 20*time.Second)
			for _, d := range st.Deliveries {
				if want := map[string]string{"ehr": "delivered", "marketing": "skipped"}[d.Destination]; d.State != want ||
					(d.Destination == "marketing" && d.ErrorCode != "no_consent") {
					t.Fatalf("after the replay: %s %s %q, want %s", d.Destination, d.State, d.ErrorCode, want)
				}
			}
			// The marketing sink holds the two consenting patients, and no one else.
			resp, err := http.Get(h.marketing.URL + "/fhir/R4/Patient")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			for _, family := range []string{"ZznewMRN-T1", "ZznewMRN-B1"} {
				if !strings.Contains(string(body), family) {
					t.Errorf("marketing lacks %s", family)
				}
			}
			for _, family := range []string{"ZznewMRN-T2", "ZznewMRN-B2", "ZznewMRN-S1", "ZznewMRN-R1"} {
				if strings.Contains(string(body), family) {
					t.Errorf("marketing received %s without consent", family)
				}
			}
		})
	}
}
