package stripe_test

import (
	"fmt"
	"strings"

	"github.com/switchboard-health/switchboard/connectors"
	_ "github.com/switchboard-health/switchboard/connectors/stripe"
	"github.com/switchboard-health/switchboard/hub/route"
)

// A payments destination in the routing file. Only the name of the
// environment variable holding the key goes in the file, never the key.
func Example() {
	const routing = `
destinations:
  payments:
    type: stripe
    config:
      base_url: https://api.stripe.com   # stripe-mock: http://127.0.0.1:12111
      api_key_env: STRIPE_API_KEY
      invoice_description: Healthcare services   # generic: the payer sees it
      collection_method: send_invoice
      days_until_due: 30
      auto_advance: true
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
	d := table.Destinations["payments"]
	spec, _ := connectors.Lookup(d.Type)
	conn, err := spec.New(connectors.Params{
		Name:   "payments",
		Decode: d.Decoder(),
		Env: func(name string) (string, bool) {
			return map[string]string{"STRIPE_API_KEY": "sk_test_example"}[name], true
		},
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(conn.Type(), "-", spec.Summary)

	// Without the variable, start-up fails and says which one.
	_, err = spec.New(connectors.Params{
		Name:   "payments",
		Decode: d.Decoder(),
		Env:    func(string) (string, bool) { return "", false },
	})
	fmt.Println(err)

	fmt.Println(strings.Join(spec.FieldNames(), ", "))
	// Output:
	// stripe - Stripe payments: a Patient becomes a Customer; an Invoice or ChargeItem becomes invoice items and an invoice
	// stripe destination "payments": environment variable STRIPE_API_KEY is empty
	// api_key_env, auto_advance, base_url, breaker_failures, breaker_open_for, collection_method, days_until_due, invoice_description, max_response_bytes, retry_max, timeout, webhook_secrets_env
}
