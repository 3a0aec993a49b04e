package calcom_test

import (
	"fmt"
	"strings"

	"github.com/switchboard-health/switchboard/connectors"
	_ "github.com/switchboard-health/switchboard/connectors/calcom"
	"github.com/switchboard-health/switchboard/hub/route"
)

// A scheduling destination in the routing file. Only the name of the
// environment variable holding the API key goes in the file, never the key.
func Example() {
	const routing = `
destinations:
  scheduling:
    type: calcom
    config:
      base_url: https://api.cal.com   # the Prism mock of Cal.com's spec: http://127.0.0.1:4012
      api_key_env: CALCOM_API_KEY
      event_type_id: 4242             # Appointments without a https://cal.com/event-type serviceType
      time_zone: Europe/Lisbon        # Patients without a tz-code extension
      slot_minutes: 30
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
	d := table.Destinations["scheduling"]
	spec, _ := connectors.Lookup(d.Type)
	conn, err := spec.New(connectors.Params{
		Name:   "scheduling",
		Decode: d.Decoder(),
		Env: func(name string) (string, bool) {
			return map[string]string{"CALCOM_API_KEY": "cal_test_example"}[name], true
		},
	})
	if err != nil {
		panic(err)
	}
	_, searches := conn.(connectors.Searcher)
	fmt.Println(conn.Type(), "answers searches:", searches)

	// Without the variable, start-up fails and says which one.
	_, err = spec.New(connectors.Params{
		Name:   "scheduling",
		Decode: d.Decoder(),
		Env:    func(string) (string, bool) { return "", false },
	})
	fmt.Println(err)

	fmt.Println(strings.Join(spec.FieldNames(), ", "))
	// Output:
	// calcom answers searches: true
	// calcom destination "scheduling": environment variable CALCOM_API_KEY is empty
	// api_key_env, base_url, breaker_failures, breaker_open_for, event_type_id, max_response_bytes, organizer_email, retry_max, slot_minutes, time_zone, timeout, webhook_secrets_env
}
