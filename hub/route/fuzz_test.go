package route_test

import (
	"testing"

	"github.com/switchboard-health/switchboard/connectors"
	"github.com/switchboard-health/switchboard/hub/route"
	"github.com/switchboard-health/switchboard/hub/validation"
)

// FuzzParse: whatever routing file an operator writes, loading it returns
// a table or an error, never a panic; a table it returns routes only to
// destinations it declares and reads only from them.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"destinations:\n  ehr: {type: fhir}\nroutes:\n  - {resource: Patient, to: [ehr]}\n",
		"destinations:\n  scheduling: {type: calcom}\nroutes:\n  - {resource: Patient, to: [scheduling]}\nreads:\n  - {resource: Appointment, from: scheduling}\n",
		"destinations:\n  ehr:\n    type: fhir\n    poll: {interval: 1m, page_size: 50}\n    config: {base_url: \"http://x\"}\nidentity: {record_at: ehr}\nroutes:\n  - {resource: Appointment, to: [ehr]}\n",
		"routes: [{resource: Patient, to: [nowhere]}]",
		"destinations: {a: {type: x}}\nroutes: [{resource: NotAType, to: [a]}]",
		"", "{}", "[]", ":", "destinations: &a [*a]", "alerts: {url: 'http://example.com'}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tab, err := route.Parse(data, validation.IsResourceType)
		if err != nil {
			return
		}
		if tab == nil {
			t.Fatal("no table and no error")
		}
		declared := map[string]bool{}
		for _, d := range tab.DestinationNames() {
			declared[d] = true
		}
		for _, typ := range []string{"Patient", "Appointment", "Consent", "Claim", "Invoice"} {
			if from, ok := tab.ReadFrom(typ); ok && !declared[from] {
				t.Fatalf("%s is read from %q, not a declared destination", typ, from)
			}
			for _, in := range []connectors.Interaction{connectors.Create, connectors.Update} {
				for _, to := range tab.For(typ, in) {
					if !declared[to] {
						t.Fatalf("%s routed to %q, not a declared destination", typ, to)
					}
				}
			}
		}
	})
}
