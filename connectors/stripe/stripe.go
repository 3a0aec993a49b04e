// Package stripe is the payments connector (type "stripe"): a FHIR Patient
// becomes a Stripe Customer (created, or updated when the Patient carries a
// Stripe customer identifier), sent form-encoded with the delivery's
// Idempotency-Key. Stripe keeps the first result for a key for 24 hours,
// failures included, and says in Stripe-Should-Retry whether retrying can
// help; the shared outbound client honours that header.
//
// Configuration (the destination's `config:` block):
//
//	base_url          default https://api.stripe.com (stripe-mock: http://127.0.0.1:12111)
//	api_key_env       environment variable with the secret key (default STRIPE_API_KEY)
//	timeout, retry_max, breaker_failures, breaker_open_for   as for every connector
package stripe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/switchboard-health/switchboard/connectors"
	"github.com/switchboard-health/switchboard/connectors/outbound"
	mapping "github.com/switchboard-health/switchboard/mappings/stripe"
)

func init() {
	connectors.Register(connectors.Spec{
		Type:    "stripe",
		Summary: "Stripe payments: Patient to Customer",
		Fields: outbound.SettingsFields(map[string]string{
			"base_url":    "API base (default https://api.stripe.com)",
			"api_key_env": "environment variable with the secret key (default STRIPE_API_KEY)",
		}),
		New: New,
	})
}

// Config is the connector's configuration block.
type Config struct {
	BaseURL           string `yaml:"base_url"`
	APIKeyEnv         string `yaml:"api_key_env"`
	outbound.Settings `yaml:",inline"`
}

// Connector delivers to Stripe.
type Connector struct {
	base   string
	key    string
	client *outbound.Client
}

// New builds the connector and validates its configuration.
func New(p connectors.Params) (connectors.Connector, error) {
	c := Config{BaseURL: "https://api.stripe.com", APIKeyEnv: "STRIPE_API_KEY"}
	if err := p.Decode(&c); err != nil {
		return nil, err
	}
	if u, err := url.Parse(c.BaseURL); err != nil || u.Host == "" {
		return nil, fmt.Errorf("stripe destination %q: base_url must be an http(s) URL", p.Name)
	}
	key, _ := p.Env(c.APIKeyEnv)
	if key == "" {
		return nil, fmt.Errorf("stripe destination %q: environment variable %s is empty", p.Name, c.APIKeyEnv)
	}
	return &Connector{
		base:   strings.TrimRight(c.BaseURL, "/"),
		key:    key,
		client: c.Settings.Client(p.Name, p.Logger),
	}, nil
}

// Type implements connectors.Connector.
func (c *Connector) Type() string { return "stripe" }

// BreakerState reports the destination's circuit breaker.
func (c *Connector) BreakerState() string { return c.client.BreakerState() }

// Deliver implements connectors.Deliverer.
func (c *Connector) Deliver(ctx context.Context, d connectors.Delivery) (connectors.Result, error) {
	if d.ResourceType != "Patient" {
		return connectors.Result{}, connectors.PermanentError("unsupported_resource", fmt.Errorf("stripe takes Patient, not %s", d.ResourceType))
	}
	form, err := mapping.Customer(d.Resource, d.TransferID)
	if err != nil {
		return connectors.Result{}, connectors.PermanentError("mapping", err)
	}
	target := c.base + "/v1/customers"
	if id := mapping.CustomerID(d.Resource); id != "" {
		target += "/" + url.PathEscape(id)
	}
	resp, err := c.client.Do(ctx, outbound.Request{
		Method: http.MethodPost, URL: target, Body: []byte(form.Encode()), IdempotencyKey: d.IdempotencyKey,
		Header: http.Header{
			"Authorization": {"Bearer " + c.key},
			"Content-Type":  {"application/x-www-form-urlencoded"},
		},
	})
	if err != nil {
		var ce *connectors.Error
		if errors.As(err, &ce) && resp != nil {
			if code := errorCode(resp.Body); code != "" {
				ce.Code += ":" + code
			}
		}
		return connectors.Result{}, err
	}
	var cus struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(resp.Body, &cus)
	return connectors.Result{Status: resp.Status, VendorID: cus.ID}, nil
}

// errorCode reads Stripe's error type and code, never its message (which
// can quote the parameters sent).
func errorCode(body []byte) string {
	var e struct {
		Error struct {
			Type string `json:"type"`
			Code string `json:"code"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &e) != nil || e.Error.Type == "" {
		return ""
	}
	if e.Error.Code != "" {
		return e.Error.Type + "/" + e.Error.Code
	}
	return e.Error.Type
}
