package fhir

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/switchboard-health/switchboard/connectors"
	"github.com/switchboard-health/switchboard/connectors/connectortest"
)

// TestContract checks the connector against the seam's contract
// (connectortest): a conditional create, and an update by id, which reads
// the current version first and sends "<key>:v<version>" under If-Match.
func TestContract(t *testing.T) {
	const (
		created = `{"resourceType":"Patient","identifier":[{"system":"https://clinic.example/mrn","value":"MRN-77"}],` +
			`"name":[{"family":"Quagmire","given":["Zebulon"]}],"birthDate":"1961-04-12"}`
		updated = `{"resourceType":"Patient","id":"p-kit","name":[{"family":"Quagmire","given":["Zebulon"]}],"birthDate":"1961-04-12"}`
		current = `{"resourceType":"Patient","id":"p-kit","meta":{"versionId":"3","lastUpdated":"2026-01-01T00:00:00Z"},"name":[{"family":"Quagmire"}]}`
	)
	connectortest.Run(t, connectortest.Options{
		New: func(tg connectortest.Target) (connectors.Connector, error) {
			return New(tg.Params("ehr", `{}`, nil))
		},
		Samples: []connectors.Delivery{
			{ResourceType: "Patient", Interaction: connectors.Create, Resource: []byte(created)},
			{ResourceType: "Patient", Interaction: connectors.Update, ResourceID: "p-kit", Resource: []byte(updated)},
		},
		Canaries: []string{"Quagmire", "Zebulon", "1961-04-12"},
		// A FHIR server: the current version on a read, the record written
		// on a create or an update.
		Answer: func(w http.ResponseWriter, r *http.Request, _ []byte) {
			w.Header().Set("Content-Type", "application/fhir+json")
			switch r.Method {
			case http.MethodGet:
				_, _ = w.Write([]byte(current))
			case http.MethodPost:
				w.Header().Set("Location", "/Patient/kit-1/_history/1")
				w.WriteHeader(http.StatusCreated)
				_, _ = w.Write([]byte(`{"resourceType":"Patient","id":"kit-1"}`))
			default:
				_, _ = w.Write([]byte(`{"resourceType":"Patient","id":"p-kit"}`))
			}
		},
		// Refusals are OperationOutcomes whose diagnostics quote the request.
		ErrorBody: func(_ int, request []byte) []byte {
			b, _ := json.Marshal(map[string]any{"resourceType": "OperationOutcome", "issue": []any{map[string]any{
				"severity": "error", "code": "invalid", "diagnostics": "could not process " + string(request)}}})
			return b
		},
		Webhook: connectortest.StandardWebhook(
			[]byte(`{"type":"Patient.updated","data":{"resourceType":"Patient","name":[{"family":"Quagmire"}]}}`)),
	})
}
