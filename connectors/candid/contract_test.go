package candid

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/switchboard-health/switchboard/connectors"
	"github.com/switchboard-health/switchboard/connectors/connectortest"
)

// TestContract checks the connector against the seam's contract
// (connectortest) with a Claim and its related Patient and Coverage.
func TestContract(t *testing.T) {
	connectortest.Run(t, connectortest.Options{
		New: func(tg connectortest.Target) (connectors.Connector, error) {
			// The kit chooses retry_max.
			config := strings.Replace(testConfig, "retry_max: -1\n", "", 1)
			return New(tg.Params("billing", config, testEnv))
		},
		Samples:  []connectors.Delivery{delivery(t, testdata("claim-related.json"), "")},
		Canaries: []string{"Jordan", "1975-01-30"},
		// The token call is no write of the delivery: it carries no key,
		// and the kit's faults go to the encounter.
		IsWrite: func(r *http.Request) bool {
			return r.Method != http.MethodGet && r.URL.Path != "/api/auth/v2/token"
		},
		Answer: func(w http.ResponseWriter, r *http.Request, _ []byte) {
			w.Header().Set("Content-Type", "application/json")
			if r.URL.Path == "/api/auth/v2/token" {
				_, _ = w.Write([]byte(`{"access_token":"tok","expires_in":3600,"token_type":"Bearer"}`))
				return
			}
			_, _ = w.Write([]byte(`{"encounter_id":"enc-1"}`))
		},
		// Candid's error shape; its message quotes what was refused.
		ErrorBody: func(_ int, request []byte) []byte {
			b, _ := json.Marshal(map[string]any{"errorName": "HttpRequestValidationsError",
				"content": map[string]any{"message": "could not process " + string(request)}})
			return b
		},
		// A 401 drops the cached token: the next attempt fetches a fresh
		// one, so it is worth retrying (TestForbiddenUnauthorizedDropsToken).
		Classes: map[int]connectors.Class{http.StatusUnauthorized: connectors.Retryable},
		Webhook: connectortest.StandardWebhook(
			[]byte(`{"type":"claim.status_updated","data":{"patient":{"first_name":"Jordan","date_of_birth":"1975-01-30"}}}`)),
	})
}
