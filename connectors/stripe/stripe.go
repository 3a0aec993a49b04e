// Package stripe is the payments connector (type "stripe"). A FHIR Patient
// becomes a Stripe Customer, and a FHIR Invoice or ChargeItem becomes Stripe
// invoice items and an invoice (see mappings/stripe for the fields).
//
// # Patients
//
//	POST {base_url}/v1/customers        when the Patient has no Stripe customer identifier
//	POST {base_url}/v1/customers/{id}   when it has one (system https://switchboard.health/id/stripe-customer)
//
// with the delivery's Idempotency-Key. The Result's VendorID is the
// customer id (cus_...), which the hub writes back to the Patient as that
// identifier.
//
// # Invoices and charge items (create only)
//
// An Invoice with n lines is n+1 calls, made in this order, each with its
// own idempotency key derived from the delivery's:
//
//	POST {base_url}/v1/invoiceitems   line 1 .. n   Idempotency-Key: <key>:item:1 .. <key>:item:n
//	POST {base_url}/v1/invoices       last          Idempotency-Key: <key>:invoice
//
// The invoice is created last, with pending_invoice_items_behavior=include,
// so it gathers the items just made; the Result's VendorID is the invoice id
// (in_...). A ChargeItem alone is one call, POST /v1/invoiceitems with
// <key>:item:1, left pending for the customer's next invoice; its VendorID
// is the invoice item id (ii_...). Updates are refused
// ("unsupported_interaction"): an update arrives with a new transfer and
// so new keys, and would bill a second time.
//
// The customer is found from the resource itself (see mappings/stripe): a
// Patient, contained or in the same transaction Bundle (Delivery.Related),
// or the reference's identifier, carrying the Stripe customer identifier.
// Billing therefore needs the Patient to have reached Stripe first; without
// the identifier the delivery fails permanently with "no_stripe_customer",
// before any call. Amount and currency errors ("amount", "currency") and a
// status other than issued (billable) ("invoice_status") are permanent too.
//
// A failure midway (say the second item gets a 503) fails the attempt with
// the class of that call, and no invoice exists yet. Because the keys are
// the same on every automatic retry of the delivery, the retry replays the
// calls already made: Stripe answers them from its idempotency cache
// without creating a second item, and the sequence carries on where it
// stopped. Nothing is billed twice, and the invoice is only made once
// every item exists. Stripe keeps a key's first result for 24 hours, 5xx
// included (docs/decisions/0005-delivery-semantics.md): a deliberate replay
// under a new key generation re-creates the items made before the failure,
// which would then be pending twice; such a replay should follow a look at the
// customer's pending items in Stripe (metadata[switchboard_transfer] names
// them).
//
// # Requests and errors
//
// Every call is form-encoded (keys sorted), with Authorization: Bearer
// <key> and no Stripe-Version (the account's default API version applies).
// Other resource types fail permanently ("unsupported_resource").
//
// Stripe keeps the first result for an idempotency key for 24 hours, 5xx
// answers included, and says in Stripe-Should-Retry whether a retry can
// help: "true" makes any answer Retryable, "false" makes any answer
// Permanent, whatever its status; without the header the status decides
// (connectors.ClassifyStatus). The error's Code is "stripe_<type>" or
// "stripe_<type>:<code>" from Stripe's error object (never its message,
// which can quote the parameters sent), else "http_<status>".
//
// # Configuration
//
// The destination's `config:` block is [Config]: each field's yaml and doc
// tags name and describe it; the registered spec and docs/connectors.md
// (go generate ./connectors/all) are read from there.
package stripe

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"regexp"

	"github.com/switchboard-health/switchboard/connectors"
	"github.com/switchboard-health/switchboard/connectors/outbound"
	"github.com/switchboard-health/switchboard/connectors/webhook"
	mapping "github.com/switchboard-health/switchboard/mappings/stripe"
)

// typeName is the connector's registered type.
const typeName = "stripe"

func init() {
	connectors.Register(connectors.Spec{
		Type:    typeName,
		Summary: "Stripe payments: a Patient becomes a Customer; an Invoice or ChargeItem becomes invoice items and an invoice",
		Config:  Config{},
		Docs: connectors.Docs{
			Vendor:   "Stripe (payments)",
			Receives: "`Patient` → Customer; `Invoice` → invoice items then an invoice; `ChargeItem` → an invoice item; amounts in exact minor units per currency, no clinical text",
			IDs:      "identifier `https://switchboard.health/id/stripe-customer`; FHIR ids in Stripe `metadata`",
		},
		New: New,
	})
}

// Config is the connector's configuration block.
type Config struct {
	BaseURL            string `yaml:"base_url" doc:"API base URL (default https://api.stripe.com)"`
	APIKeyEnv          string `yaml:"api_key_env" doc:"environment variable holding the secret key (default STRIPE_API_KEY)"`
	InvoiceDescription string `yaml:"invoice_description" doc:"text of every invoice item, shown to the payer; generic, never clinical (default Healthcare services)"`
	CollectionMethod   string `yaml:"collection_method" doc:"send_invoice (default) or charge_automatically"`
	DaysUntilDue       *int   `yaml:"days_until_due" doc:"days to pay a send_invoice invoice, 0 to 365 (default 30)"`
	AutoAdvance        *bool  `yaml:"auto_advance" doc:"let Stripe finalize and collect invoices (default true)"`
	// WebhookSecretsEnv names the environment variables holding the
	// webhook secrets (several during a rotation).
	WebhookSecretsEnv []string `yaml:"webhook_secrets_env" doc:"environment variables holding the webhook secrets, several while rotating (optional: without them webhooks are refused)"`
	outbound.Settings `yaml:",inline"`
}

// Connector delivers Patients, Invoices and ChargeItems to one Stripe account.
type Connector struct {
	outbound.Base
	webhook.Receiver
	connectors.Systems
	base     string
	basePath string
	key      string
	billing  mapping.BillingOptions
}

// New builds the connector and validates its configuration.
func New(p connectors.Params) (connectors.Connector, error) {
	c := Config{BaseURL: "https://api.stripe.com", APIKeyEnv: "STRIPE_API_KEY"}
	if err := p.Decode(&c); err != nil {
		return nil, err // the decoder names the destination and the field
	}
	b := outbound.NewBase(typeName, p, c.Settings, func(o *outbound.Options) { o.Classify = classify })
	base, basePath, err := b.BaseURL(c.BaseURL)
	if err != nil {
		return nil, err
	}
	key, err := b.Secret("api_key_env", c.APIKeyEnv)
	if err != nil {
		return nil, err
	}
	billing, err := c.billing()
	if err != nil {
		return nil, b.Errorf("%w", err)
	}
	rcv, err := webhook.NewReceiver(p, typeName, c.WebhookSecretsEnv,
		func(s []string) (connectors.WebhookVerifier, error) {
			return NewWebhookVerifier(s, DefaultWebhookTolerance)
		})
	if err != nil {
		return nil, err
	}
	return &Connector{
		Base:     b,
		Receiver: rcv,
		// The identifier systems this connector's ids are written back
		// under at the EHR (connectors.Identified).
		Systems: connectors.Systems{
			"Patient":    mapping.IdentifierSystem,
			"Invoice":    mapping.InvoiceSystem,
			"ChargeItem": mapping.InvoiceItemSystem,
		},
		base:     base,
		basePath: basePath,
		key:      key,
		billing:  billing,
	}, nil
}

// Deliver implements connectors.Deliverer.
func (c *Connector) Deliver(ctx context.Context, d connectors.Delivery) (connectors.Result, error) {
	if err := c.Accepts(d, "Patient", "Invoice", "ChargeItem"); err != nil {
		return connectors.Result{}, err
	}
	if d.ResourceType != "Patient" {
		return c.bill(ctx, d)
	}
	form, err := mapping.Customer(d.Resource, d.TransferID)
	if err != nil {
		return connectors.Result{}, connectors.PermanentError("mapping", err)
	}
	req := outbound.Request{
		Method:         http.MethodPost,
		URL:            c.base + "/v1/customers",
		PathTemplate:   c.basePath + "/v1/customers",
		Body:           []byte(form.Encode()),
		IdempotencyKey: d.IdempotencyKey,
		Header:         c.header(),
	}
	if id := mapping.CustomerID(d.Resource); id != "" {
		req.URL += "/" + url.PathEscape(id)
		req.PathTemplate += "/{id}"
	}
	return c.send(ctx, req)
}

// header is what every call carries.
func (c *Connector) header() http.Header {
	return http.Header{
		"Authorization": {"Bearer " + c.key},
		"Content-Type":  {"application/x-www-form-urlencoded"},
		"Accept":        {"application/json"},
	}
}

// send makes the call and reads Stripe's answer: the id of what it made
// (cus_, ii_, in_) on success, the error type and code on failure.
func (c *Connector) send(ctx context.Context, req outbound.Request) (connectors.Result, error) {
	resp, err := c.Client.Do(ctx, req)
	if err != nil {
		var ce *connectors.Error
		if errors.As(err, &ce) && resp != nil {
			if code := errorCode(resp.Body); code != "" {
				ce.Code = code
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

// classify honours Stripe-Should-Retry over the status.
func classify(_ int, h http.Header) connectors.Class {
	switch h.Get("Stripe-Should-Retry") {
	case "true":
		return connectors.Retryable
	case "false":
		return connectors.Permanent
	}
	return ""
}

// stripeWord is the shape of Stripe's error types and codes
// (card_error, parameter_unknown); anything else is not copied.
var stripeWord = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

// errorCode is "stripe_<type>[:<code>]" from Stripe's error object, or "".
// Never the message or param, which can quote what was sent.
func errorCode(body []byte) string {
	var e struct {
		Error struct {
			Type string `json:"type"`
			Code string `json:"code"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &e) != nil || !stripeWord.MatchString(e.Error.Type) {
		return ""
	}
	code := "stripe_" + e.Error.Type
	if stripeWord.MatchString(e.Error.Code) {
		code += ":" + e.Error.Code
	}
	return code
}
