package calcom_test

import (
	"fmt"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/switchboard-health/switchboard/connectors"
	_ "github.com/switchboard-health/switchboard/connectors/calcom"
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
	var file struct {
		Destinations map[string]struct {
			Type   string
			Config yaml.Node
		}
	}
	if err := yaml.Unmarshal([]byte(routing), &file); err != nil {
		panic(err)
	}
	d := file.Destinations["scheduling"]
	spec, _ := connectors.Lookup(d.Type)
	conn, err := spec.New(connectors.Params{
		Name:   "scheduling",
		Decode: func(into any) error { return d.Config.Decode(into) },
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
		Decode: func(into any) error { return d.Config.Decode(into) },
		Env:    func(string) (string, bool) { return "", false },
	})
	fmt.Println(err)

	fields := make([]string, 0, len(spec.Fields))
	for f := range spec.Fields {
		fields = append(fields, f)
	}
	sort.Strings(fields)
	fmt.Println(strings.Join(fields, ", "))
	// Output:
	// calcom answers searches: true
	// calcom destination "scheduling": environment variable CALCOM_API_KEY is empty
	// api_key_env, base_url, breaker_failures, breaker_open_for, event_type_id, retry_max, slot_minutes, time_zone, timeout
}
