package route_test

import (
	"fmt"

	"github.com/switchboard-health/switchboard/hub/route"
)

// A destination's rate_limit bounds the calls to its vendor, every hub
// process together. HubSpot allows 100 requests per 10 seconds: a burst of
// 10 and 9 a second keep any 10 s window within it (10 + 9·10 = 100). A
// destination without rate_limit takes its connector's default.
func ExampleDestination_Limit() {
	table, err := route.Parse([]byte(`
destinations:
  marketing:
    type: hubspot
    rate_limit: {per_second: 9, burst: 10}
  ehr:
    type: fhir
routes:
  - {resource: Patient, to: [ehr, marketing]}
`), nil)
	if err != nil {
		panic(err)
	}
	fmt.Println("marketing:", table.Destinations["marketing"].Limit(nil))
	// Without a connector that publishes a default: the conservative fallback.
	fmt.Println("ehr:", table.Destinations["ehr"].Limit(nil))
	// Output:
	// marketing: 9/s, burst 10
	// ehr: 10/s, burst 10
}
