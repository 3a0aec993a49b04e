package server_test

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/switchboard-health/switchboard/connectors/webhook"
)

// claimRoutes: Candid reports claim status changes by webhook; the EHR
// keeps them as ClaimResponses.
const claimRoutes = `destinations:
  ehr:
    type: fhir
    config: {base_url: %[1]q}
  billing:
    type: candid
    config: {base_url: "http://127.0.0.1:1", client_id_env: VENDOR_KEY_FOR_TEST, client_secret_env: VENDOR_KEY_FOR_TEST,
      billing_npi: "1234567893", billing_tax_id: "987654321", billing_organization_name: Example Telehealth Group,
      billing_address1: 500 Billing St, billing_city: Springfield, billing_state: IL, billing_zip: "62704",
      billing_zip_plus_four: "1000", place_of_service_code: "02", webhook_secrets_env: [CANDID_WEBHOOK_FOR_TEST]}
routes:
  - {resource: ClaimResponse, to: [ehr]}
`

// TestClaimStatusToClaimResponse: a claim status change at Candid becomes
// one ClaimResponse at the EHR; the same event again changes nothing; a
// later status updates that ClaimResponse rather than adding one.
func TestClaimStatusToClaimResponse(t *testing.T) {
	key := []byte("candid-webhook-key-for-the-test!")
	for _, dialect := range dialects {
		t.Run(dialect, func(t *testing.T) {
			h := startWithEnv(t, dialect, claimRoutes, map[string]string{"CANDID_WEBHOOK_FOR_TEST": "whsec_" + base64.StdEncoding.EncodeToString(key)})
			send := func(id, status string) {
				body := []byte(`{"type":"encounter.claim_status_updated","timestamp":"` + time.Now().UTC().Format(time.RFC3339Nano) + `","data":{
					"encounter_id":"enc-77","external_id":"claim-77","created_at":"2026-11-20T09:00:00Z","patient":{"external_id":"pat-77"},
					"subscriber_primary":{"insurance_card":{"payer_name":"Example Health Plan","payer_id":"60054"}},
					"claims":[{"claim_id":"c-77","status":"` + status + `"}]}}`)
				now := time.Now()
				req, _ := http.NewRequest(http.MethodPost, h.url+"/webhooks/billing", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set(webhook.HeaderID, id)
				req.Header.Set(webhook.HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
				req.Header.Set(webhook.HeaderSignature, webhook.Sign(key, id, now, body))
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("webhook %s: %d", id, resp.StatusCode)
				}
			}
			outcome := func() string {
				all := h.ehrSearch("ClaimResponse")
				if len(all) != 1 {
					return ""
				}
				s, _ := all[0]["outcome"].(string)
				return s
			}
			send("msg_claim_1", "submitted_to_payer")
			send("msg_claim_1", "submitted_to_payer")
			waitCount(t, func() int { return len(h.ehrSearch("ClaimResponse")) }, 1, 10*time.Second)
			if o := outcome(); o != "queued" {
				t.Fatalf("outcome %q, want queued", o)
			}
			send("msg_claim_2", "denied")
			deadline := time.Now().Add(10 * time.Second)
			for outcome() != "error" && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
			}
			if o := outcome(); o != "error" {
				t.Fatalf("after the denial: %d ClaimResponses, outcome %q; want one, error", len(h.ehrSearch("ClaimResponse")), o)
			}
		})
	}
}
