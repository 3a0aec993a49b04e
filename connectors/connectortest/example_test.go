package connectortest_test

import (
	"context"
	"fmt"
	"net/http"

	"github.com/switchboard-health/switchboard/connectors"
	"github.com/switchboard-health/switchboard/connectors/connectortest"
	"github.com/switchboard-health/switchboard/connectors/outbound"
)

// crm is a connector as a vendor folder holds it: its configuration with
// outbound.Settings inline, outbound.Base for the type and the client, and
// one call per delivery that sends the delivery's idempotency key.
type crm struct {
	outbound.Base
	url string
}

func newCRM(p connectors.Params) (connectors.Connector, error) {
	var cfg struct {
		BaseURL           string `yaml:"base_url"`
		TokenEnv          string `yaml:"token_env"`
		outbound.Settings `yaml:",inline"`
	}
	if err := p.Decode(&cfg); err != nil {
		return nil, err
	}
	b := outbound.NewBase("crm", p, cfg.Settings)
	base, _, err := b.BaseURL(cfg.BaseURL)
	if err != nil {
		return nil, err
	}
	if _, err := b.Secret("token_env", cfg.TokenEnv); err != nil {
		return nil, err
	}
	return &crm{Base: b, url: base}, nil
}

func (c *crm) Deliver(ctx context.Context, d connectors.Delivery) (connectors.Result, error) {
	if err := c.Accepts(d, "Patient"); err != nil {
		return connectors.Result{}, err
	}
	resp, err := c.Client.Do(ctx, outbound.Request{Method: http.MethodPost, URL: c.url + "/v1/contacts",
		PathTemplate: "/v1/contacts", Body: d.Resource, IdempotencyKey: d.IdempotencyKey})
	if err != nil {
		return connectors.Result{}, err // already a PHI-free *connectors.Error
	}
	return connectors.Result{Status: resp.Status, VendorID: "c-1"}, nil
}

// contract is what the connector's test holds:
//
//	func TestContract(t *testing.T) { contract(t) }
func contract(t connectortest.T) {
	connectortest.Run(t, connectortest.Options{
		// A fresh connector against the kit's vendor stand-in; Params adds
		// base_url, timeout and retry_max to the configuration.
		New: func(tg connectortest.Target) (connectors.Connector, error) {
			return newCRM(tg.Params("marketing", `{token_env: CRM_TOKEN}`, map[string]string{"CRM_TOKEN": "t0k"}))
		},
		// One delivery per resource type the connector takes…
		Samples: []connectors.Delivery{{
			ResourceType: "Patient", Interaction: connectors.Create,
			Resource: []byte(`{"resourceType":"Patient","name":[{"family":"Quagmire"}],"birthDate":"1961-04-12"}`),
		}},
		// …and the PHI in them, which must never be logged or put in an error.
		Canaries: []string{"Quagmire", "1961-04-12"},
		// The vendor's ordinary answer to a create.
		Answer: func(w http.ResponseWriter, _ *http.Request, _ []byte) {
			w.WriteHeader(http.StatusCreated)
			fmt.Fprint(w, `{"id":"c-1"}`)
		},
	})
}

// printT prints what fails, standing in for the *testing.T a test has.
type printT struct {
	failed   int
	cleanups []func()
}

func (p *printT) Helper()             {}
func (p *printT) Logf(string, ...any) {}
func (p *printT) Cleanup(f func())    { p.cleanups = append(p.cleanups, f) }
func (p *printT) Errorf(format string, args ...any) {
	p.failed++
	fmt.Printf(format+"\n", args...)
}

// Example checks a connector against the seam's contract, as its
// TestContract does.
func Example() {
	t := &printT{}
	contract(t)
	for _, f := range t.cleanups {
		f() // the kit's vendor stand-ins
	}
	fmt.Println("failures:", t.failed)
	// Output: failures: 0
}
