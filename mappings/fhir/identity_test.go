package fhir

import (
	"slices"
	"strings"
	"testing"
)

func TestRewriteReferences(t *testing.T) {
	refs := map[string]string{"urn:uuid:p": "Patient/7"}
	for _, c := range []struct {
		name, in, want string
		unresolved     []string
	}{
		{"no urn:uuid: bytes kept", `{"resourceType":"Appointment","x":1.50}`, `{"resourceType":"Appointment","x":1.50}`, nil},
		{"nested reference rewritten, decimals kept",
			`{"resourceType":"Appointment","participant":[{"actor":{"reference":"urn:uuid:p","display":"A"}}],"q":1.50}`,
			`{"resourceType":"Appointment","participant":[{"actor":{"display":"A","reference":"Patient/7"}}],"q":1.50}`, nil},
		{"unknown urn:uuid listed",
			`{"resourceType":"Claim","patient":{"reference":"urn:uuid:p"},"insurance":[{"coverage":{"reference":"urn:uuid:c"}}]}`,
			`{"resourceType":"Claim","insurance":[{"coverage":{"reference":"urn:uuid:c"}}],"patient":{"reference":"Patient/7"}}`, []string{"urn:uuid:c"}},
		{"a urn:uuid that is not a reference is data", `{"resourceType":"Basic","text":"urn:uuid:p"}`, `{"resourceType":"Basic","text":"urn:uuid:p"}`, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, unresolved, err := RewriteReferences([]byte(c.in), refs)
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != c.want || !slices.Equal(unresolved, c.unresolved) {
				t.Fatalf("got %s %v\nwant %s %v", out, unresolved, c.want, c.unresolved)
			}
		})
	}
}

func TestMergeIdentifiers(t *testing.T) {
	stripe := "https://switchboard.health/id/stripe-customer"
	for _, c := range []struct {
		name, in string
		add      []Identifier
		replace  bool
		want     string
		changed  bool
	}{
		{"added to none", `{"resourceType":"Patient"}`, []Identifier{{stripe, "cus_1"}}, false,
			`{"resourceType":"Patient","identifier":[{"system":"` + stripe + `","value":"cus_1"}]}`, true},
		{"same system kept without replace", `{"resourceType":"Patient","identifier":[{"system":"` + stripe + `","value":"cus_0"}]}`,
			[]Identifier{{stripe, "cus_1"}}, false, `{"resourceType":"Patient","identifier":[{"system":"` + stripe + `","value":"cus_0"}]}`, false},
		{"same system replaced, other members kept", `{"resourceType":"Patient","identifier":[{"use":"secondary","system":"` + stripe + `","value":"cus_0"}]}`,
			[]Identifier{{stripe, "cus_1"}}, true, `{"resourceType":"Patient","identifier":[{"system":"` + stripe + `","use":"secondary","value":"cus_1"}]}`, true},
		{"already there: bytes unchanged", `{"resourceType":"Patient", "identifier":[{"system":"` + stripe + `","value":"cus_1"}]}`,
			[]Identifier{{stripe, "cus_1"}}, true, `{"resourceType":"Patient", "identifier":[{"system":"` + stripe + `","value":"cus_1"}]}`, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, changed, err := MergeIdentifiers([]byte(c.in), c.add, c.replace)
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != c.want || changed != c.changed {
				t.Fatalf("got %s %v\nwant %s %v", out, changed, c.want, c.changed)
			}
		})
	}
	if _, _, err := MergeIdentifiers([]byte(`{"identifier":{}}`), []Identifier{{stripe, "x"}}, false); err == nil || strings.Contains(err.Error(), "x") {
		t.Fatalf("identifier not an array: %v", err)
	}
}
