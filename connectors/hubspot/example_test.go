package hubspot_test

import (
	"fmt"
	"strings"

	"github.com/switchboard-health/switchboard/connectors"
	_ "github.com/switchboard-health/switchboard/connectors/hubspot"
	"github.com/switchboard-health/switchboard/hub/route"
)

// A marketing destination in the routing file. Only the name of the
// environment variable holding the private app token goes in the file,
// never the token. The fhir_id_property is a custom contact property that
// must already exist in the HubSpot portal; set it to "" to send no FHIR id.
func Example() {
	const routing = `
destinations:
  marketing:
    type: hubspot
    config:
      base_url: https://api.hubapi.com   # Prism mock of the spec: http://127.0.0.1:4011
      token_env: HUBSPOT_TOKEN
      fhir_id_property: switchboard_fhir_id
      timeout: 10s
      retry_max: 2
      breaker_failures: 5
      breaker_open_for: 30s
`
	// The hub reads the file with route.Parse; the connector decodes its own
	// block strictly through Decoder.
	table, err := route.Parse([]byte(routing), nil)
	if err != nil {
		panic(err)
	}
	d := table.Destinations["marketing"]
	spec, _ := connectors.Lookup(d.Type)
	conn, err := spec.New(connectors.Params{
		Name:   "marketing",
		Decode: d.Decoder(),
		Env: func(name string) (string, bool) {
			return map[string]string{"HUBSPOT_TOKEN": "pat-na1-example"}[name], true
		},
	})
	if err != nil {
		panic(err)
	}
	_, searches := conn.(connectors.Searcher)
	fmt.Println(conn.Type(), "-", spec.Summary)
	fmt.Println("answers Patient?email= searches:", searches)

	// Without the variable, start-up fails and says which one.
	_, err = spec.New(connectors.Params{
		Name:   "marketing",
		Decode: d.Decoder(),
		Env:    func(string) (string, bool) { return "", false },
	})
	fmt.Println(err)

	fmt.Println(strings.Join(spec.FieldNames(), ", "))
	// Output:
	// hubspot - HubSpot CRM marketing: a Patient becomes a contact (contact fields only), upserted by email
	// answers Patient?email= searches: true
	// hubspot destination "marketing": environment variable HUBSPOT_TOKEN is empty
	// base_url, breaker_failures, breaker_open_for, fhir_id_property, max_response_bytes, retry_max, timeout, token_env, webhook_secrets_env
}
