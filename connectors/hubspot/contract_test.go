package hubspot

import (
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/switchboard-health/switchboard/connectors"
	"github.com/switchboard-health/switchboard/connectors/connectortest"
)

// TestContract checks the connector against the seam's contract
// (connectortest) with a Patient.
func TestContract(t *testing.T) {
	patient, err := os.ReadFile(filepath.Join("..", "..", "testdata", "mappings", "hubspot", "patient-full.json"))
	if err != nil {
		t.Fatal(err)
	}
	const hookURL = "https://hub.example/webhooks/crm"
	webhookBody := []byte(`[{"eventId":7,"subscriptionId":12345,"portalId":62515,"occurredAt":1564113600000,"subscriptionType":"contact.propertyChange","attemptNumber":0,"objectId":123,"propertyName":"email","propertyValue":"alex@example.org"}]`)
	connectortest.Run(t, connectortest.Options{
		New: func(tg connectortest.Target) (connectors.Connector, error) {
			return New(tg.Params("marketing", `{}`, map[string]string{"HUBSPOT_TOKEN": "pat-test"}))
		},
		Samples:  []connectors.Delivery{{ResourceType: "Patient", Interaction: connectors.Create, Resource: patient}},
		Canaries: []string{"alex@example.org", "Alex"},
		// The batch upsert's answer names the contact.
		Answer: func(w http.ResponseWriter, _ *http.Request, _ []byte) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"status":"COMPLETE","results":[{"id":"512","properties":{}}]}`))
		},
		Webhook: &connectortest.Webhook{
			New: func(secrets []string) (connectors.WebhookVerifier, error) {
				return NewWebhookVerifier(secrets, DefaultWebhookTolerance)
			},
			Secrets: [2]string{libSecret, "zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz"},
			Sign: func(secret string, body []byte, at time.Time) connectors.WebhookRequest {
				return hsRequest(http.MethodPost, hookURL, SignWebhook(secret, http.MethodPost, hookURL, body, at),
					strconv.FormatInt(at.UnixMilli(), 10), body)
			},
			Body:      webhookBody,
			Tolerance: DefaultWebhookTolerance,
			Vectors: []connectortest.WebhookVector{{
				Name: "HubSpot's Python client", Secrets: []string{libSecret}, Now: time.UnixMilli(15000000 + 1000), Valid: true,
				Request: hsRequest(http.MethodPost, libURL, libSignature, libTimestamp, []byte(libBody)),
			}, {
				Name: "escaped URL", Secrets: []string{libSecret}, Now: time.UnixMilli(batchMillis), Valid: true,
				Request: hsRequest(http.MethodPost, batchURL, batchSignature, strconv.FormatInt(batchMillis, 10), []byte(batchBody)),
			}, {
				Name: "escaped URL, signed for another URL", Secrets: []string{libSecret}, Now: time.UnixMilli(batchMillis), Valid: false,
				Request: hsRequest(http.MethodPost, libURL, batchSignature, strconv.FormatInt(batchMillis, 10), []byte(batchBody)),
			}},
		},
	})
}
