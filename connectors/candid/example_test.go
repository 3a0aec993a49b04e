package candid_test

import (
	"fmt"
	"strings"

	"github.com/switchboard-health/switchboard/connectors"
	_ "github.com/switchboard-health/switchboard/connectors/candid"
	"github.com/switchboard-health/switchboard/hub/route"
)

// A billing destination in the routing file. Only the names of the
// environment variables holding the client id and secret go in the file.
func Example() {
	const routing = `
destinations:
  billing:
    type: candid
    config:
      base_url: https://api.joincandidhealth.com   # Prism mock: http://127.0.0.1:4013
      client_id_env: CANDID_CLIENT_ID
      client_secret_env: CANDID_CLIENT_SECRET
      # The billing provider when a Claim's provider is not an Organization with an NPI.
      billing_npi: "1234567893"
      billing_tax_id: "987654321"
      billing_organization_name: Example Medical Group
      billing_address1: 500 Billing St
      billing_city: Springfield
      billing_state: IL
      billing_zip: "62704"
      billing_zip_plus_four: "1000"
      place_of_service_code: "11"   # office, when an item has no locationCodeableConcept
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
	d := table.Destinations["billing"]
	spec, _ := connectors.Lookup(d.Type)
	conn, err := spec.New(connectors.Params{
		Name:   "billing",
		Decode: d.Decoder(),
		Env: func(name string) (string, bool) {
			return map[string]string{"CANDID_CLIENT_ID": "example-id", "CANDID_CLIENT_SECRET": "example-secret"}[name], true
		},
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(conn.Type(), "-", spec.Summary)

	// Without the secret, start-up fails and says which variable.
	_, err = spec.New(connectors.Params{
		Name:   "billing",
		Decode: d.Decoder(),
		Env: func(name string) (string, bool) {
			return map[string]string{"CANDID_CLIENT_ID": "example-id"}[name], true
		},
	})
	fmt.Println(err)

	fmt.Println(strings.Join(spec.FieldNames(), ", "))
	// Output:
	// candid - Candid Health billing: a Claim becomes an encounter; ClaimResponse searches read it back
	// candid destination "billing": environment variable CANDID_CLIENT_SECRET is empty
	// base_url, billing_address1, billing_address2, billing_city, billing_npi, billing_organization_name, billing_state, billing_tax_id, billing_zip, billing_zip_plus_four, breaker_failures, breaker_open_for, client_id_env, client_secret_env, max_response_bytes, place_of_service_code, retry_max, timeout, webhook_secrets_env
}
