package validation_test

import (
	"testing"

	"github.com/switchboard-health/switchboard/hub/validation"
)

func TestElement(t *testing.T) {
	cases := []struct {
		typ, path         string
		primitive, exists bool
	}{
		{"Patient", "id", true, true},
		{"Patient", "name", false, true},
		{"Patient", "name.family", true, true},
		{"Patient", "name.given", true, true},
		{"Patient", "telecom.rank", true, true},
		{"Patient", "gender", true, true},
		{"Patient", "deceasedBoolean", true, true},
		{"Patient", "managingOrganization.reference", true, true},
		{"Observation", "valueQuantity.unit", true, true},
		{"Patient", "contained", false, true},
		{"Patient", "nmae", false, false},
		{"Patient", "name.family.x", false, false},
		{"Patient", "contained.id", false, false},
		{"Patient", "deceased", false, false},
		{"Patient", "", false, false},
		{"Patinet", "id", false, false},
	}
	for _, c := range cases {
		primitive, ok := validation.Element(c.typ, c.path)
		if ok != c.exists || primitive != c.primitive {
			t.Errorf("Element(%s, %q) = %v, %v; want %v, %v", c.typ, c.path, primitive, ok, c.primitive, c.exists)
		}
	}
}
