package calcom

import (
	"net/http"
	"testing"
	"time"

	"github.com/switchboard-health/switchboard/connectors"
	"github.com/switchboard-health/switchboard/connectors/connectortest"
)

// TestContract checks the connector against the seam's contract
// (connectortest) with an Appointment to book. Cal.com ignores
// Idempotency-Key, but the connector sends it on every write all the same,
// and on attempt 2 looks for the booking attempt 1 may have made (an empty
// list here) before booking again under the same key.
func TestContract(t *testing.T) {
	connectortest.Run(t, connectortest.Options{
		New: func(tg connectortest.Target) (connectors.Connector, error) {
			return New(tg.Params("scheduling", `{event_type_id: 1001, time_zone: America/Chicago}`,
				map[string]string{"CALCOM_API_KEY": "cal_test_123"}))
		},
		Samples:  []connectors.Delivery{delivery(t, "appointment-contained-patient.json", connectors.Create)},
		Canaries: []string{"Alex", "alex@example.org"},
		Answer: func(w http.ResponseWriter, r *http.Request, _ []byte) {
			w.Header().Set("Content-Type", "application/json")
			if r.Method == http.MethodGet {
				_, _ = w.Write([]byte(`{"status":"success","data":[]}`))
				return
			}
			w.WriteHeader(http.StatusCreated)
			_, _ = w.Write([]byte(`{"status":"success","data":{"uid":"bk-kit"}}`))
		},
		Webhook: &connectortest.Webhook{
			New:     func(secrets []string) (connectors.WebhookVerifier, error) { return NewWebhookVerifier(secrets) },
			Secrets: [2]string{calSecret, "calcom-rotated-secret"},
			Sign: func(secret string, body []byte, _ time.Time) connectors.WebhookRequest {
				return calRequest(SignWebhook(secret, body), body)
			},
			Body: []byte(`{"triggerEvent":"BOOKING_CREATED","createdAt":"2026-01-15T10:00:00.000Z","payload":{"uid":"bk-kit","attendees":[{"email":"alex@example.org"}]}}`),
			// Cal.com signs no timestamp: there is no tolerance to check.
			Vectors: []connectortest.WebhookVector{{
				Name: "independent", Secrets: []string{calSecret}, Valid: true,
				Request: calRequest(calSig, []byte(calBody)),
			}},
		},
	})
}
