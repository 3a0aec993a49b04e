package fhir_test

import (
	"encoding/json"
	"testing"

	fhirjson "github.com/switchboard-health/switchboard/mappings/fhir"
)

func TestResolver(t *testing.T) {
	r := fhirjson.NewResolver([]json.RawMessage{
		json.RawMessage(`{"resourceType":"Patient","id":"p1"}`),
		json.RawMessage(`{"resourceType":"Coverage"}`),
	}, map[string][]byte{"urn:uuid:1": []byte(`{"resourceType":"Patient"}`), "Patient/7": []byte(`{"resourceType":"Patient","id":"7"}`)})
	cases := []struct{ ref, want string }{
		{"#p1", `{"resourceType":"Patient","id":"p1"}`},
		{"urn:uuid:1", `{"resourceType":"Patient"}`},
		{"Patient/7", `{"resourceType":"Patient","id":"7"}`},
		{"#missing", ""},
		{"p1", ""}, // a contained id is only reached with "#"
		{"Patient/8", ""},
		{"", ""},
	}
	for _, c := range cases {
		if got := string(r.Resolve(c.ref)); got != c.want {
			t.Errorf("Resolve(%q) = %s, want %s", c.ref, got, c.want)
		}
	}
}
