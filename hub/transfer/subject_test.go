package transfer

import (
	"testing"

	"github.com/switchboard-health/switchboard/connectors"
)

func TestSubjectKeys(t *testing.T) {
	entries := []Entry{
		{ResourceType: "Patient", FullURL: "urn:uuid:p1", Resource: []byte(`{"resourceType":"Patient","identifier":[{"system":"https://c.example/mrn","value":"M1"}]}`)},
		{ResourceType: "Appointment", Resource: []byte(`{"resourceType":"Appointment","participant":[{"actor":{"reference":"Practitioner/d"}},{"actor":{"reference":"urn:uuid:p1"}}]}`)},
		{ResourceType: "Coverage", Resource: []byte(`{"resourceType":"Coverage","beneficiary":{"reference":"urn:uuid:p1"}}`)},
		{ResourceType: "Patient", Interaction: connectors.Update, ResourceID: "42", Resource: []byte(`{"resourceType":"Patient","id":"42"}`)},
		{ResourceType: "Observation", Resource: []byte(`{"resourceType":"Observation","subject":{"reference":"Patient/42"}}`)},
		{ResourceType: "Observation", Resource: []byte(`{"resourceType":"Observation","subject":{"reference":"Group/g"}}`)},
		{ResourceType: "Consent", Resource: []byte(`{"resourceType":"Consent","patient":{"reference":"urn:uuid:unknown"}}`)},
		{ResourceType: "Patient", FullURL: "urn:uuid:p9", Resource: []byte(`{"resourceType":"Patient"}`)},
	}
	want := []string{
		"Patient?identifier=https://c.example/mrn|M1",
		"Patient?identifier=https://c.example/mrn|M1", // through the Bundle's urn:uuid
		"Patient?identifier=https://c.example/mrn|M1",
		"Patient/42",
		"Patient/42",
		"", // not about a patient
		"", // a urn:uuid that is no Patient entry
		"urn:uuid:p9",
	}
	got := subjectKeys(entries)
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("entry %d (%s): %q, want %q", i, entries[i].ResourceType, got[i], want[i])
		}
	}
}
