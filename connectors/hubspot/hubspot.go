// Package hubspot is the marketing connector (type "hubspot"): HubSpot CRM
// contacts v3. A FHIR Patient becomes a contact with contact fields only
// (email, firstname, lastname, phone and the Patient's FHIR id; see
// mappings/hubspot), upserted keyed by email:
//
//	POST {base_url}/crm/v3/objects/contacts/batch/upsert   one input, idProperty "email"
//
// with Authorization: Bearer <private app token>, the delivery's
// Idempotency-Key (HubSpot ignores it; it costs nothing and keeps every
// connector's requests alike) and the transfer id as objectWriteTraceId.
// Other resource types fail permanently ("unsupported_resource"); a Patient
// without an email fails permanently ("no_email").
//
// Answers: the Result's VendorID is the contact id. A 207 multi-status, or
// a 2xx whose body lists errors, is a failure, classified by the error's own
// status when it has one. Non-2xx answers are classified by status
// (connectors.ClassifyStatus): 429 is retryable and its Retry-After is
// honoured by the outbound client. The error Code is "hubspot_<status>",
// followed by ":<CATEGORY>" when HubSpot's error names its category
// (VALIDATION_ERROR, RATE_LIMITS, ...); never HubSpot's message, which
// quotes the values sent.
//
// The connector answers FHIR searches (connectors.Searcher): Patient?email=
// becomes POST /crm/v3/objects/contacts/search with an email EQ filter, and
// HubSpot's paging.next.after cursor is the page's opaque Next.
//
// # Configuration
//
// The destination's `config:` block is [Config]: each field's yaml and doc
// tags name and describe it; the registered spec and docs/connectors.md
// (go generate ./connectors/all) are read from there.
package hubspot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/switchboard-health/switchboard/connectors"
	"github.com/switchboard-health/switchboard/connectors/outbound"
	"github.com/switchboard-health/switchboard/connectors/webhook"
	mapping "github.com/switchboard-health/switchboard/mappings/hubspot"
)

// typeName is the connector's registered type.
const typeName = "hubspot"

func init() {
	connectors.Register(connectors.Spec{
		Type:    typeName,
		Summary: "HubSpot CRM marketing: a Patient becomes a contact (contact fields only), upserted by email",
		Config:  Config{},
		Docs: connectors.Docs{
			Vendor:   "HubSpot CRM contacts v3 (marketing)",
			Receives: "`Patient` → contact upserted by email, allow-listed contact properties only",
			Searches: "`Patient` by `email`",
			IDs:      "identifier `https://switchboard.health/id/hubspot-contact`; the FHIR id in a contact property (`fhir_id_property`)",
		},
		New: New,
	})
}

// Paths of the contacts v3 API.
const (
	upsertPath   = "/crm/v3/objects/contacts/batch/upsert"
	searchPath   = "/crm/v3/objects/contacts/search"
	contactsPath = "/crm/v3/objects/contacts/"
)

// Config is the connector's configuration block.
type Config struct {
	BaseURL        string `yaml:"base_url" doc:"API base URL (default https://api.hubapi.com)"`
	TokenEnv       string `yaml:"token_env" doc:"environment variable holding the private app token (default HUBSPOT_TOKEN)"`
	FHIRIDProperty string `yaml:"fhir_id_property" doc:"custom contact property receiving the Patient's FHIR id, which must exist in the portal (default switchboard_fhir_id; empty disables it)"`
	// WebhookSecretsEnv names the environment variables holding the
	// webhook secrets (several during a rotation).
	WebhookSecretsEnv []string `yaml:"webhook_secrets_env" doc:"environment variables holding the webhook secrets, several while rotating (optional: without them webhooks are refused)"`
	outbound.Settings `yaml:",inline"`
}

// propertyName is the shape of a HubSpot property's internal name.
var propertyName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,99}$`)

// Connector delivers Patients to one HubSpot portal.
type Connector struct {
	outbound.Base
	webhook.Receiver
	// System is the identifier system this connector's ids are written
	// back under at the EHR (connectors.Identified).
	connectors.System
	base     string
	basePath string
	token    string
	idProp   string
	client   *outbound.Client
}

// New builds the connector and validates its configuration.
func New(p connectors.Params) (connectors.Connector, error) {
	c := Config{BaseURL: "https://api.hubapi.com", TokenEnv: "HUBSPOT_TOKEN", FHIRIDProperty: mapping.DefaultFHIRIDProperty}
	if err := p.Decode(&c); err != nil {
		return nil, err // the decoder names the destination and the field
	}
	b := outbound.NewBase(typeName, p, c.Settings)
	base, basePath, err := b.BaseURL(c.BaseURL)
	if err != nil {
		return nil, err
	}
	token, err := b.Secret("token_env", c.TokenEnv)
	if err != nil {
		return nil, err
	}
	if c.FHIRIDProperty != "" && !propertyName.MatchString(c.FHIRIDProperty) {
		return nil, b.Errorf("fhir_id_property must be a HubSpot internal property name (lowercase letters, digits, '_')")
	}
	rcv, err := webhook.NewReceiver(p, typeName, c.WebhookSecretsEnv,
		func(s []string) (connectors.WebhookVerifier, error) {
			return NewWebhookVerifier(s, DefaultWebhookTolerance)
		})
	if err != nil {
		return nil, err
	}
	return &Connector{
		Base: b, System: mapping.IdentifierSystem,
		Receiver: rcv,
		base:     base,
		basePath: basePath,
		token:    token,
		idProp:   c.FHIRIDProperty,
	}, nil
}

// Deliver implements connectors.Deliverer.
func (c *Connector) Deliver(ctx context.Context, d connectors.Delivery) (connectors.Result, error) {
	if err := c.Accepts(d, "Patient"); err != nil {
		return connectors.Result{}, err
	}
	in, err := mapping.Upsert(d.Resource, mapping.Options{FHIRIDProperty: c.idProp, TraceID: d.TransferID})
	if errors.Is(err, mapping.ErrNoEmail) {
		return connectors.Result{}, connectors.PermanentError("no_email", err)
	}
	if err != nil {
		return connectors.Result{}, connectors.PermanentError("mapping", err)
	}
	body, err := json.Marshal(in)
	if err != nil {
		return connectors.Result{}, connectors.PermanentError("mapping", errors.New("hubspot: could not encode the upsert"))
	}
	resp, err := c.do(ctx, outbound.Request{
		Method:         http.MethodPost,
		URL:            c.base + upsertPath,
		PathTemplate:   c.basePath + upsertPath,
		Body:           body,
		IdempotencyKey: d.IdempotencyKey,
	})
	if err != nil {
		return connectors.Result{}, err
	}
	var out struct {
		Results []struct {
			ID string `json:"id"`
		} `json:"results"`
		Errors []hubspotError `json:"errors"`
	}
	if json.Unmarshal(resp.Body, &out) != nil {
		return connectors.Result{}, &connectors.Error{Class: connectors.Retryable, Status: resp.Status,
			Code: "hubspot_bad_answer", Err: errors.New("hubspot upsert: the answer is not JSON")}
	}
	if resp.Status == http.StatusMultiStatus || len(out.Errors) > 0 {
		return connectors.Result{}, batchError(resp.Status, out.Errors)
	}
	if len(out.Results) == 0 || out.Results[0].ID == "" {
		// The upsert is keyed by email, so trying again is harmless.
		return connectors.Result{}, &connectors.Error{Class: connectors.Retryable, Status: resp.Status,
			Code: "hubspot_no_result", Err: errors.New("hubspot upsert: the answer names no contact")}
	}
	return connectors.Result{Status: resp.Status, VendorID: out.Results[0].ID}, nil
}

// patientParams are the search parameters the connector translates
// (connectors.SearchDeclarer): a contact by email.
var patientParams = []connectors.SearchParam{{Name: "email", Type: "token"}}

// SearchParams implements connectors.SearchDeclarer.
func (c *Connector) SearchParams(_ context.Context, resourceType string) ([]connectors.SearchParam, error) {
	if resourceType != "Patient" {
		return nil, nil
	}
	return slices.Clone(patientParams), nil
}

// StatesApplied implements connectors.SearchDeclarer: the connector applies
// what it declares.
func (c *Connector) StatesApplied() bool { return false }

// Search implements connectors.Searcher: Patient?email=… (one value; and
// _count, at most 100, HubSpot's page limit). Any other parameter is a
// BadSearch: it would not be applied.
func (c *Connector) Search(ctx context.Context, q connectors.SearchQuery) (connectors.SearchPage, error) {
	if q.ResourceType != "Patient" {
		return connectors.SearchPage{}, connectors.PermanentError("unsupported_resource",
			fmt.Errorf("hubspot searches Patient, not %s", q.ResourceType))
	}
	limit := 10
	for k, vals := range q.Params {
		switch {
		case k == connectors.CountParam:
			n, err := strconv.Atoi(vals[0])
			if err != nil || n < 1 || len(vals) > 1 {
				return connectors.SearchPage{}, connectors.BadSearch(k, "HubSpot takes a _count of 1 or more")
			}
			limit = min(n, 100)
		case !connectors.Declared(patientParams, k):
			// A parameter's name is not PHI; its value may be.
			return connectors.SearchPage{}, connectors.BadSearch(k, "HubSpot searches Patient by email only")
		case len(vals) > 1:
			return connectors.SearchPage{}, connectors.BadSearch(k, "HubSpot takes one email")
		}
	}
	email := strings.TrimSpace(q.Params.Get("email"))
	if email == "" {
		return connectors.SearchPage{}, connectors.BadSearch("email", "HubSpot searches Patient by email: the email parameter is required")
	}
	body, _ := json.Marshal(mapping.SearchByEmail(email, q.Cursor, limit))
	resp, err := c.do(ctx, outbound.Request{
		Method:       http.MethodPost,
		URL:          c.base + searchPath,
		PathTemplate: c.basePath + searchPath,
		Body:         body,
	})
	if err != nil {
		return connectors.SearchPage{}, err
	}
	pats, next, err := mapping.SearchResults(resp.Body)
	if err != nil {
		return connectors.SearchPage{}, &connectors.Error{Class: connectors.Retryable, Status: resp.Status,
			Code: "hubspot_bad_answer", Err: err}
	}
	return connectors.SearchPage{Resources: pats, Next: next}, nil
}

// Read returns the contact with HubSpot id contactID as a FHIR Patient.
func (c *Connector) Read(ctx context.Context, contactID string) (json.RawMessage, error) {
	return c.read(ctx, contactID, "")
}

// ReadByEmail returns the contact whose email is email as a FHIR Patient
// (GET …/contacts/{email}?idProperty=email).
func (c *Connector) ReadByEmail(ctx context.Context, email string) (json.RawMessage, error) {
	return c.read(ctx, email, mapping.IDProperty)
}

func (c *Connector) read(ctx context.Context, id, idProperty string) (json.RawMessage, error) {
	if id == "" {
		return nil, connectors.PermanentError("bad_read", errors.New("hubspot read: empty id"))
	}
	q := url.Values{"properties": {strings.Join(mapping.Properties(), ",")}}
	if idProperty != "" {
		q.Set("idProperty", idProperty)
	}
	resp, err := c.do(ctx, outbound.Request{
		Method:       http.MethodGet,
		URL:          c.base + contactsPath + url.PathEscape(id) + "?" + q.Encode(),
		PathTemplate: c.basePath + contactsPath + "{id}",
	})
	if err != nil {
		return nil, err
	}
	p, err := mapping.Patient(resp.Body)
	if err != nil {
		return nil, &connectors.Error{Class: connectors.Retryable, Status: resp.Status, Code: "hubspot_bad_answer", Err: err}
	}
	return p, nil
}

// do sends r with the token and JSON headers, and names HubSpot's error
// category in a failure's Code.
func (c *Connector) do(ctx context.Context, r outbound.Request) (*outbound.Response, error) {
	r.Header = http.Header{
		"Authorization": {"Bearer " + c.token},
		"Accept":        {"application/json"},
	}
	if r.Body != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Client.Do(ctx, r)
	if err != nil {
		var ce *connectors.Error
		if errors.As(err, &ce) && resp != nil {
			ce.Code = fmt.Sprintf("hubspot_%d", resp.Status)
			var e hubspotError
			if json.Unmarshal(resp.Body, &e) == nil && categoryWord.MatchString(e.Category) {
				ce.Code += ":" + e.Category
			}
		}
		return nil, err
	}
	return resp, nil
}

// hubspotError is the part of HubSpot's Error / StandardError read here:
// never the message or context, which quote the values sent.
type hubspotError struct {
	Category string `json:"category"`
	// Status is a StandardError's HTTP status, as a string in the spec.
	Status json.RawMessage `json:"status"`
}

// categoryWord is the shape of HubSpot's error categories
// (VALIDATION_ERROR, RATE_LIMITS); anything else is not copied.
var categoryWord = regexp.MustCompile(`^[A-Z][A-Z0-9_]{0,63}$`)

// batchError classifies a multi-status answer or a 2xx listing errors: by
// the first error's status when it carries one (a 429 or 5xx inside the
// batch is retryable), else permanent, since HubSpot rejected the input.
func batchError(httpStatus int, errs []hubspotError) *connectors.Error {
	ce := &connectors.Error{Class: connectors.Permanent, Status: httpStatus, Code: fmt.Sprintf("hubspot_%d", httpStatus),
		Err: fmt.Errorf("hubspot upsert: the answer lists %d error(s)", len(errs))}
	if len(errs) == 0 {
		return ce
	}
	e := errs[0]
	var s string
	if json.Unmarshal(e.Status, &s) != nil {
		s = string(e.Status)
	}
	if n, err := strconv.Atoi(s); err == nil && n >= 400 && n < 600 {
		ce.Code = fmt.Sprintf("hubspot_%d", n)
		ce.Class = connectors.ClassifyStatus(n)
	}
	if categoryWord.MatchString(e.Category) {
		ce.Code += ":" + e.Category
		if e.Category == "RATE_LIMITS" {
			ce.Class = connectors.Retryable
		}
	}
	return ce
}
