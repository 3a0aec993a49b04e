package stripe

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/switchboard-health/switchboard/connectors"
	"github.com/switchboard-health/switchboard/connectors/connectortest"
	"github.com/switchboard-health/switchboard/hub/testenv"
)

// TestContract checks the connector against the seam's contract
// (connectortest): a Patient, an Invoice and a ChargeItem.
func TestContract(t *testing.T) {
	dir := filepath.Join(testenv.RepoRoot(t), "testdata", "mappings", "stripe")
	patient, err := os.ReadFile(filepath.Join(dir, "patient-full.json"))
	if err != nil {
		t.Fatal(err)
	}
	webhookBody := []byte(`{"id":"evt_kit","object":"event","type":"customer.updated","data":{"object":{"email":"alex@example.org"}}}`)
	connectortest.Run(t, connectortest.Options{
		New: func(tg connectortest.Target) (connectors.Connector, error) {
			return New(tg.Params("payments", `{}`, map[string]string{"STRIPE_API_KEY": "sk_test_123"}))
		},
		Samples: []connectors.Delivery{
			{ResourceType: "Patient", Interaction: connectors.Create, Resource: patient},
			billingDelivery(t, filepath.Join(dir, "invoice", "invoice-related-patient.json"), ""),
			billingDelivery(t, filepath.Join(dir, "invoice", "chargeitem-alone.json"), ""),
		},
		// Stripe's forms are URL-encoded: the email reaches the vendor as
		// alex%40example.org, the given name as it is.
		Canaries: []string{"Alex", "alex@example.org"},
		Webhook: &connectortest.Webhook{
			New: func(secrets []string) (connectors.WebhookVerifier, error) {
				return NewWebhookVerifier(secrets, DefaultWebhookTolerance)
			},
			Secrets: [2]string{hookSecret, hookSecretNext},
			Sign: func(secret string, body []byte, at time.Time) connectors.WebhookRequest {
				return hookRequest(SignWebhook(at, body, secret), body)
			},
			Body:      webhookBody,
			Tolerance: DefaultWebhookTolerance,
			Vectors: []connectortest.WebhookVector{{
				Name: "independent", Secrets: []string{hookSecret}, Now: time.Unix(hookUnix, 0), Valid: true,
				Request: hookRequest("t=1700000000,v1="+hookSig, []byte(hookBody)),
			}, {
				Name: "independent, rotated secret", Secrets: []string{hookSecret}, Now: time.Unix(hookUnix, 0), Valid: false,
				Request: hookRequest("t=1700000000,v1="+hookSigNext, []byte(hookBody)),
			}},
		},
	})
}
