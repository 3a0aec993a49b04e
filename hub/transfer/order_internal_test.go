package transfer

import (
	"slices"
	"testing"

	"github.com/switchboard-health/switchboard/connectors"
)

func TestDeliveryOrder(t *testing.T) {
	for _, c := range []struct {
		name string
		n    int
		refs []map[string]int
		want []int
	}{
		{"no references: Bundle order", 3, nil, []int{0, 1, 2}},
		{"referenced entries first", 3, []map[string]int{{"urn:uuid:p": 2}, {"urn:uuid:p": 2}, nil}, []int{1, 2, 0}},
		{"chain", 3, []map[string]int{{"urn:uuid:e": 1, "urn:uuid:p": 2}, {"urn:uuid:p": 2}, nil}, []int{2, 1, 0}},
		{"cycle broken at the first entry", 2, []map[string]int{{"b": 1}, {"a": 0}}, []int{1, 0}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := deliveryOrder(c.n, c.refs); !slices.Equal(got, c.want) {
				t.Fatalf("got %v, want %v", got, c.want)
			}
		})
	}
}

type routeTable map[string][]string

func (r routeTable) For(t string, _ connectors.Interaction) []string { return r[t] }

// TestGateWaitsFor: a gated delivery of a Patient waits for that Patient's
// own delivery to the gate's source and for every Consent going there; not
// for another Patient, nor for entries not routed to the source.
func TestGateWaitsFor(t *testing.T) {
	entries := []Entry{
		{ResourceType: "Patient", Interaction: connectors.Create},
		{ResourceType: "Consent", Interaction: connectors.Create},
		{ResourceType: "Patient", Interaction: connectors.Create},
		{ResourceType: "Observation", Interaction: connectors.Create},
	}
	toEHR := routeTable{"Patient": {"ehr", "marketing"}, "Consent": {"ehr"}, "Observation": {"ehr"}}
	for _, c := range []struct {
		name  string
		r     Router
		entry int
		want  []int
	}{
		{"the first patient", toEHR, 0, []int{0, 1}},
		{"the second patient", toEHR, 2, []int{1, 2}},
		{"an entry with no patient of its own", toEHR, 3, []int{1}},
		{"Consents not routed to the source", routeTable{"Patient": {"ehr", "marketing"}}, 0, []int{0}},
		{"nothing routed to the source", routeTable{"Patient": {"marketing"}}, 0, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := gateWaitsFor(entries, c.entry, "ehr", c.r)
			var got []int
			if g != nil {
				if g.Source != "ehr" {
					t.Fatalf("source %q", g.Source)
				}
				got = g.Entries
			}
			if !slices.Equal(got, c.want) {
				t.Fatalf("waits for %v, want %v", got, c.want)
			}
		})
	}
}
