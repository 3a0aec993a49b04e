package server_test

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-health/switchboard/cmd/vendorsim/hubsim"
	"github.com/switchboard-health/switchboard/connectors/hubspot"
)

// optOutRoutes: HubSpot receives consenting patients' contact fields and
// reports opt-outs by webhook; Consents are kept at the EHR.
const optOutRoutes = `destinations:
  ehr:
    type: fhir
    config: {base_url: %[1]q}
  marketing:
    type: hubspot
    projection: contact
    requires_consent: {purpose: HMARKT, from: ehr}
    config: {base_url: "{{HUBSPOT}}", token_env: VENDOR_KEY_FOR_TEST, webhook_secrets_env: [WEBHOOK_SECRET_NEW]}
routes:
  - {resource: Patient, to: [ehr, marketing]}
  - {resource: Consent, to: [ehr]}
identity: {record_at: ehr}
`

// TestMarketingOptOutByWebhook: a patient who consented reaches HubSpot;
// she unsubscribes there; HubSpot's webhook becomes a deny Consent at the
// EHR about her EHR Patient, and from then on the gate keeps her updates
// from HubSpot.
func TestMarketingOptOutByWebhook(t *testing.T) {
	for _, dialect := range dialects {
		t.Run(dialect, func(t *testing.T) {
			hs := hubsim.New(hubsim.Options{})
			hsSrv := httptest.NewServer(hs)
			t.Cleanup(hsSrv.Close)
			h := startWith(t, dialect, strings.ReplaceAll(optOutRoutes, "{{HUBSPOT}}", hsSrv.URL))

			r := h.post("/fhir/R4/Patient", `{"resourceType":"Patient","identifier":[{"system":"https://clinic.example/mrn","value":"MRN-OPT"}],
				"name":[{"family":"Zzoptout","given":["Lee"]}],"telecom":[{"system":"email","value":"lee.optout@example.org"}]}`)
			if r.status != http.StatusAccepted {
				t.Fatalf("%d %s", r.status, r.body)
			}
			h.waitFor(r.header.Get("Content-Location"), 10*time.Second)
			pats := h.ehrSearch("Patient?identifier=https://clinic.example/mrn|MRN-OPT")
			if len(pats) != 1 {
				t.Fatalf("EHR has %d patients", len(pats))
			}
			pid := pats[0]["id"].(string)
			h.seedEHR("Consent", `{"resourceType":"Consent","status":"active","scope":{"text":"privacy"},"category":[{"text":"marketing"}],"dateTime":"2026-01-01T00:00:00Z",`+
				`"patient":{"reference":"Patient/`+pid+`"},"provision":{"type":"permit","purpose":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActReason","code":"HMARKT"}]}}`)

			update := func(given string) string {
				r := h.do(http.MethodPut, "/fhir/R4/Patient/"+pid, "application/fhir+json", `{"resourceType":"Patient","id":"`+pid+`",
					"identifier":[{"system":"https://clinic.example/mrn","value":"MRN-OPT"}],"name":[{"family":"Zzoptout","given":["`+given+`"]}],
					"telecom":[{"system":"email","value":"lee.optout@example.org"}]}`)
				if r.status != http.StatusAccepted {
					t.Fatalf("%d %s", r.status, r.body)
				}
				st := h.waitFor(r.header.Get("Content-Location"), 10*time.Second)
				for _, d := range st.Deliveries {
					if d.Destination == "marketing" {
						return d.State
					}
				}
				t.Fatal("no marketing delivery")
				return ""
			}
			if s := update("Lee"); s != "delivered" {
				t.Fatalf("consenting patient's update to marketing: %s", s)
			}
			contact := h.waitIdentifier(pid, "https://switchboard.health/id/hubspot-contact", 10*time.Second)
			writes := len(hs.Received())

			// She unsubscribes at HubSpot.
			body := []byte(fmt.Sprintf(`[{"eventId":7001,"subscriptionId":1,"portalId":44112233,"appId":1,"occurredAt":%d,
				"subscriptionType":"contact.propertyChange","attemptNumber":0,"objectId":%s,"propertyName":"hs_email_optout",
				"propertyValue":"true","changeSource":"EMAIL","sourceId":"Unsubscribe"}]`, time.Now().UnixMilli(), contact))
			now := time.Now()
			req, _ := http.NewRequest(http.MethodPost, h.url+"/webhooks/marketing", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set(hubspot.TimestampHeader, strconv.FormatInt(now.UnixMilli(), 10))
			req.Header.Set(hubspot.SignatureHeader, hubspot.SignWebhook("whsec_test_new_secret", http.MethodPost, h.url+"/webhooks/marketing", body, now))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("HubSpot webhook: %d", resp.StatusCode)
			}
			// The opt-out is at the EHR, about her EHR Patient.
			if n := waitCount(t, func() int { return len(h.ehrSearch("Consent?patient=Patient/" + pid)) }, 2, 10*time.Second); n != 2 {
				t.Fatalf("the EHR has %d Consents for the patient, want 2 (the permit and the opt-out)", n)
			}
			if s := update("Lee R"); s != "skipped" {
				t.Fatalf("after the opt-out, marketing delivery %s, want skipped", s)
			}
			if n := len(hs.Received()); n != writes {
				t.Fatalf("HubSpot received %d writes after the opt-out", n-writes)
			}
		})
	}
}
