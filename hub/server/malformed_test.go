package server_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// Every malformed input the API documents, through the real HTTP stack: the
// status, the issue code and the element the OperationOutcome names.
func TestMalformedInputsGetOperationOutcomes(t *testing.T) {
	h := start(t, dialectSQLite)
	big := `{"resourceType":"Patient","text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">` +
		strings.Repeat("x", 1<<20) + `</div>"}}`
	cases := []struct {
		name        string
		method      string
		path        string
		contentType string
		body        string
		status      int
		code        string
		expression  string
	}{
		{"invalid JSON", "POST", "/fhir/R4/Patient", "", `{"resourceType":"Patient",`, 400, "structure", ""},
		{"not an object", "POST", "/fhir/R4/Patient", "", `[1,2]`, 400, "structure", ""},
		{"unknown type in URL", "POST", "/fhir/R4/Patinet", "", `{"resourceType":"Patinet"}`, 400, "not-supported", "resourceType"},
		{"unknown type in body", "POST", "/fhir/R4/Patient", "", `{"resourceType":"Patinet"}`, 400, "", "resourceType"},
		{"type differs from URL", "POST", "/fhir/R4/Patient", "", `{"resourceType":"Observation","status":"final","code":{"text":"x"}}`, 400, "invalid", "Patient.resourceType"},
		{"wrong JSON type", "POST", "/fhir/R4/Patient", "", `{"resourceType":"Patient","active":"yes"}`, 400, "structure", "Patient.active"},
		{"object where array", "POST", "/fhir/R4/Patient", "", `{"resourceType":"Patient","name":{"family":"x"}}`, 400, "structure", "Patient.name"},
		{"bad date", "POST", "/fhir/R4/Patient", "", `{"resourceType":"Patient","birthDate":"1974-13-45"}`, 400, "value", "Patient.birthDate"},
		// An unknown element is named by its parent: its key is the sender's.
		{"unknown element", "POST", "/fhir/R4/Patient", "", `{"resourceType":"Patient","foo":1}`, 400, "structure", "Patient"},
		{"unknown nested element", "POST", "/fhir/R4/Patient", "", `{"resourceType":"Patient","name":[{"bogus":"x"}]}`, 400, "structure", "Patient.name[0]"},
		{"bad code", "POST", "/fhir/R4/Patient", "", `{"resourceType":"Patient","gender":"mal"}`, 400, "value", "Patient.gender"},
		{"empty string", "POST", "/fhir/R4/Patient", "", `{"resourceType":"Patient","name":[{"family":""}]}`, 400, "value", "Patient.name[0].family"},
		{"missing required", "POST", "/fhir/R4/Appointment", "", `{"resourceType":"Appointment","participant":[{"status":"accepted"}]}`, 422, "required", "Appointment.status"},
		{"malformed reference", "POST", "/fhir/R4/Patient", "", `{"resourceType":"Patient","managingOrganization":{"reference":"Organization/"}}`, 422, "value", "Patient.managingOrganization.reference"},
		{"update id mismatch", "PUT", "/fhir/R4/Patient/abc", "", `{"resourceType":"Patient","id":"xyz"}`, 400, "invalid", "Patient.id"},
		{"update without id", "PUT", "/fhir/R4/Patient/abc", "", `{"resourceType":"Patient"}`, 400, "required", "Patient.id"},
		{"too large", "POST", "/fhir/R4/Patient", "", big, 413, "too-long", ""},
		{"wrong content type", "POST", "/fhir/R4/Patient", "text/plain", `{"resourceType":"Patient"}`, 415, "not-supported", ""},
		{"type not routed", "POST", "/fhir/R4/Medication", "", `{"resourceType":"Medication"}`, 404, "not-supported", ""},
		{"interaction not routed", "PUT", "/fhir/R4/Appointment/a1", "", `{"resourceType":"Appointment","id":"a1","status":"booked","participant":[{"status":"accepted"}]}`, 405, "not-supported", ""},
		{"bundle of the wrong type", "POST", "/fhir/R4", "", `{"resourceType":"Bundle","type":"collection"}`, 422, "not-supported", "Bundle.type"},
		{"bundle entry type differs from its url", "POST", "/fhir/R4", "", `{"resourceType":"Bundle","type":"transaction","entry":[{"resource":{"resourceType":"Patient"},"request":{"method":"POST","url":"Observation"}}]}`, 400, "invalid", ""},
		{"bundle entry invalid", "POST", "/fhir/R4", "", `{"resourceType":"Bundle","type":"batch","entry":[{"resource":{"resourceType":"Patient","birthDate":"1974-13-45"},"request":{"method":"POST","url":"Patient"}}]}`, 400, "value", "Bundle.entry[0].resource.birthDate"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ct := c.contentType
			if ct == "" {
				ct = "application/fhir+json"
			}
			r := h.do(c.method, c.path, ct, c.body)
			if r.status != c.status {
				t.Fatalf("status %d, want %d: %s", r.status, c.status, r.body)
			}
			if got := r.header.Get("Content-Type"); !strings.HasPrefix(got, "application/fhir+json") {
				t.Errorf("Content-Type %q", got)
			}
			var oo struct {
				ResourceType string `json:"resourceType"`
				Issue        []struct {
					Severity   string   `json:"severity"`
					Code       string   `json:"code"`
					Expression []string `json:"expression"`
				} `json:"issue"`
			}
			if err := json.Unmarshal(r.body, &oo); err != nil || oo.ResourceType != "OperationOutcome" || len(oo.Issue) == 0 {
				t.Fatalf("not an OperationOutcome: %s", r.body)
			}
			first := oo.Issue[0]
			if c.code != "" && first.Code != c.code {
				t.Errorf("code %q, want %q (%s)", first.Code, c.code, r.body)
			}
			if c.expression != "" && (len(first.Expression) == 0 || first.Expression[0] != c.expression) {
				t.Errorf("expression %v, want %q (%s)", first.Expression, c.expression, r.body)
			}
			if c.status != http.StatusRequestEntityTooLarge && strings.Contains(string(r.body), "1974-13-45") {
				t.Errorf("the error echoes input values: %s", r.body)
			}
		})
	}
	if n := len(h.ehrLog().Requests); n != 0 {
		t.Fatalf("rejected input reached the EHR: %d requests", n)
	}
}
