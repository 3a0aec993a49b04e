package route_test

import (
	"fmt"

	"github.com/switchboard-health/switchboard/hub/route"
	"github.com/switchboard-health/switchboard/hub/validation"
)

// A destination's projection is what it may receive: the preset contact,
// or the FHIR R4 elements kept per resource type. The hub applies it
// before the payload is queued; the rest never reaches the destination.
func ExampleProjectionSpec() {
	table, err := route.Parse([]byte(`
destinations:
  ehr: {type: fhir}
  marketing: {type: hubspot, projection: contact}
  newsletter:
    type: hubspot
    projection:
      Patient: [name.given, telecom.value]
routes:
  - {resource: Patient, to: [ehr, marketing, newsletter]}
`), validation.IsResourceType)
	if err != nil {
		panic(err)
	}
	patient := []byte(`{"resourceType":"Patient","id":"p1","birthDate":"1990-01-01",` +
		`"name":[{"family":"Okafor","given":["Ada"]}],"telecom":[{"system":"email","value":"ada@example.org"}]}`)
	for _, dest := range []string{"marketing", "newsletter"} {
		out, _ := table.Project(dest, "Patient", patient)
		fmt.Printf("%s: %s\n", dest, out)
	}
	// Output:
	// marketing: {"id":"p1","name":[{"family":"Okafor","given":["Ada"]}],"resourceType":"Patient","telecom":[{"system":"email","value":"ada@example.org"}]}
	// newsletter: {"name":[{"given":["Ada"]}],"resourceType":"Patient","telecom":[{"value":"ada@example.org"}]}
}
