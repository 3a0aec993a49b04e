package server_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
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
						if got == "skipped" && d.ErrorCode != "no_consent" && d.ErrorCode != "patient_not_found" {
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
