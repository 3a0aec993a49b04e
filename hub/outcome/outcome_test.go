package outcome

import (
	"strings"
	"testing"

	"github.com/google/fhir/go/fhirversion"
	"github.com/google/fhir/go/jsonformat"
)

func TestRendersValidOperationOutcome(t *testing.T) {
	u, err := jsonformat.NewUnmarshaller("UTC", fhirversion.R4)
	if err != nil {
		t.Fatal(err)
	}
	cases := []*Error{
		New(400, "value", "Patient.birthDate", "invalid date"),
		{Status: 422, Issues: []Issue{
			{Severity: "error", Code: "required", Expression: "Appointment.status", Diagnostics: "missing required element"},
			{Severity: "warning", Code: "value", Diagnostics: "something else"},
		}},
		{Status: 500},
	}
	for _, c := range cases {
		b := c.OperationOutcome()
		if _, err := u.Unmarshal(b); err != nil {
			t.Errorf("%s is not a valid OperationOutcome: %v", b, err)
		}
	}
	if got := cases[0].Error(); !strings.Contains(got, "Patient.birthDate") || !strings.Contains(got, "400") {
		t.Errorf("Error(): %s", got)
	}
}
