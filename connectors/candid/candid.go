// Package candid is the Candid Health billing connector (type "candid"). A
// FHIR Claim, with its Patient, Coverage, Encounter and providers contained
// or in the same transaction Bundle (Delivery.Related), becomes a Candid
// encounter (see mappings/candid for the fields):
//
//	POST {base_url}/api/auth/v2/token    {client_id, client_secret} -> bearer token (cached)
//	POST {base_url}/api/encounters/v4    EncounterCreate, with the delivery's Idempotency-Key
//
// The Result's VendorID is the encounter_id. Candid also deduplicates on
// external_id (the Claim's id). Other resource types fail permanently
// ("unsupported_resource"); a mapping failure is permanent ("mapping").
//
// The token is kept in memory until 60 seconds before its expires_in and
// shared by concurrent deliveries. A 401 from Candid (or the spec's 403
// UnauthorizedError) drops it and fails the attempt as retryable, so the
// next attempt fetches a new one.
//
// Candid's spec declares no Idempotency-Key header; the connector sends the
// delivery's key anyway (harmless if ignored), and Candid refuses a second
// encounter with the same external_id (the Claim's id), which is what keeps
// a retried delivery from billing twice.
//
// Errors carry "candid_<status>", or "candid_<error name>" when Candid's
// body names one (e.g. candid_EncounterExternalIdUniquenessError); never a
// message, which can quote the claim.
//
// It answers FHIR searches of ClaimResponse by identifier (the encounter
// id, optionally https://switchboard.health/id/candid-encounter|<id>):
//
//	GET {base_url}/api/encounters/v4/{encounter_id}  -> one ClaimResponse
//
// # Configuration
//
// The destination's `config:` block is [Config]: each field's yaml and doc
// tags name and describe it; the registered spec and docs/connectors.md
// (go generate ./connectors/all) are read from there.
package candid

import (
	"bytes"
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
	"sync"
	"time"

	"github.com/switchboard-health/switchboard/connectors"
	"github.com/switchboard-health/switchboard/connectors/outbound"
	"github.com/switchboard-health/switchboard/connectors/webhook"
	mapping "github.com/switchboard-health/switchboard/mappings/candid"
)

// typeName is the connector's registered type.
const typeName = "candid"

func init() {
	connectors.Register(connectors.Spec{
		Type:    typeName,
		Summary: "Candid Health billing: a Claim becomes an encounter; ClaimResponse searches read it back",
		Config:  Config{},
		Docs: connectors.Docs{
			Vendor:   "Candid Health (billing)",
			Receives: "`Claim` with its `Patient`, `Coverage`, `Encounter` (contained or from the same Bundle) → an encounter with diagnoses and service lines, in exact cents",
			Searches: "`ClaimResponse` by `identifier` (the Candid encounter id)",
			IDs:      "identifier `https://switchboard.health/id/candid-encounter`; the Claim's id as Candid's `external_id`",
		},
		New: New,
	})
}

// Config is the connector's configuration block.
type Config struct {
	BaseURL                 string `yaml:"base_url" doc:"API base URL (default https://api.joincandidhealth.com)"`
	ClientIDEnv             string `yaml:"client_id_env" doc:"environment variable holding the client id (default CANDID_CLIENT_ID)"`
	ClientSecretEnv         string `yaml:"client_secret_env" doc:"environment variable holding the client secret (default CANDID_CLIENT_SECRET)"`
	BillingNPI              string `yaml:"billing_npi" doc:"NPI of the default billing provider"`
	BillingTaxID            string `yaml:"billing_tax_id" doc:"tax id (TIN/EIN) of the default billing provider"`
	BillingOrganizationName string `yaml:"billing_organization_name" doc:"name of the default billing provider"`
	BillingAddress1         string `yaml:"billing_address1" doc:"street line of the default billing provider"`
	BillingAddress2         string `yaml:"billing_address2" doc:"second street line of the default billing provider"`
	BillingCity             string `yaml:"billing_city" doc:"city of the default billing provider"`
	BillingState            string `yaml:"billing_state" doc:"two-letter state of the default billing provider"`
	BillingZip              string `yaml:"billing_zip" doc:"5-digit ZIP of the default billing provider"`
	BillingZipPlusFour      string `yaml:"billing_zip_plus_four" doc:"ZIP+4 suffix of the default billing provider (Candid requires it)"`
	PlaceOfServiceCode      string `yaml:"place_of_service_code" doc:"CMS place of service code used when the Claim has none, e.g. 11"`
	// WebhookSecretsEnv names the environment variables holding the
	// webhook secrets (several during a rotation).
	WebhookSecretsEnv []string `yaml:"webhook_secrets_env" doc:"environment variables holding the webhook secrets, several while rotating (optional: without them webhooks are refused)"`
	outbound.Settings `yaml:",inline"`
}

// Connector delivers Claims to one Candid Health organization.
type Connector struct {
	outbound.Base
	webhook.Receiver
	// System is the identifier system this connector's ids are written
	// back under at the EHR (connectors.Identified).
	connectors.System
	base, basePath   string
	clientID, secret string
	opts             mapping.Options
	client           *outbound.Client
	now              func() time.Time

	mu      sync.Mutex
	token   string
	expires time.Time
}

// New builds the connector and validates its configuration.
func New(p connectors.Params) (connectors.Connector, error) {
	c := Config{BaseURL: "https://api.joincandidhealth.com", ClientIDEnv: "CANDID_CLIENT_ID", ClientSecretEnv: "CANDID_CLIENT_SECRET"}
	if err := p.Decode(&c); err != nil {
		return nil, err
	}
	b := outbound.NewBase(typeName, p, c.Settings)
	base, basePath, err := b.BaseURL(c.BaseURL)
	if err != nil {
		return nil, err
	}
	id, err := b.Secret("client_id_env", c.ClientIDEnv)
	if err != nil {
		return nil, err
	}
	secret, err := b.Secret("client_secret_env", c.ClientSecretEnv)
	if err != nil {
		return nil, err
	}
	partial := c.BillingNPI != "" || c.BillingTaxID != "" || c.BillingAddress1 != ""
	if partial && (c.BillingNPI == "" || c.BillingTaxID == "" || c.BillingAddress1 == "" || c.BillingCity == "" ||
		c.BillingState == "" || c.BillingZip == "" || c.BillingZipPlusFour == "") {
		return nil, b.Errorf("a default billing provider needs billing_npi, billing_tax_id, billing_address1, billing_city, billing_state, billing_zip and billing_zip_plus_four")
	}
	rcv, err := webhook.NewReceiver(p, typeName, c.WebhookSecretsEnv,
		func(s []string) (connectors.WebhookVerifier, error) {
			return webhook.NewStandard(s, webhook.DefaultTolerance)
		})
	if err != nil {
		return nil, err
	}
	return &Connector{
		Base: b, System: mapping.SystemEncounter,
		base: base, basePath: basePath, clientID: id, secret: secret, Receiver: rcv,
		opts: mapping.Options{
			BillingProvider: mapping.Provider{NPI: c.BillingNPI, TaxID: c.BillingTaxID, OrganizationName: c.BillingOrganizationName,
				Address1: c.BillingAddress1, Address2: c.BillingAddress2, City: c.BillingCity, State: c.BillingState,
				Zip: c.BillingZip, ZipPlusFour: c.BillingZipPlusFour},
			PlaceOfServiceCode: c.PlaceOfServiceCode,
		},
		now: time.Now,
	}, nil
}

// Deliver implements connectors.Deliverer.
func (c *Connector) Deliver(ctx context.Context, d connectors.Delivery) (connectors.Result, error) {
	if err := c.Accepts(d, "Claim"); err != nil {
		return connectors.Result{}, err
	}
	opts := c.opts
	opts.ExternalID = d.TransferID + "." + strconv.Itoa(d.Entry)
	body, err := mapping.EncounterCreate(d.Resource, d.Related, opts)
	if err != nil {
		return connectors.Result{}, connectors.PermanentError("mapping", err)
	}
	resp, err := c.call(ctx, outbound.Request{
		Method: http.MethodPost, URL: c.base + "/api/encounters/v4", PathTemplate: c.basePath + "/api/encounters/v4",
		Body: body, IdempotencyKey: d.IdempotencyKey,
	})
	var ce *connectors.Error
	if errors.As(err, &ce) && strings.Contains(ce.Code, "EncounterExternalIdUniquenessError") {
		// An earlier try made the encounter and its answer was lost:
		// Candid keeps external_id unique, so find that encounter.
		return c.existing(ctx, body)
	}
	if err != nil {
		return connectors.Result{}, err
	}
	var enc struct {
		EncounterID string `json:"encounter_id"`
	}
	_ = json.Unmarshal(resp.Body, &enc)
	return connectors.Result{Status: resp.Status, VendorID: enc.EncounterID}, nil
}

// existing finds the encounter a create was refused for (its external_id
// is taken): GET /api/encounters/v4?external_id=. One match is this
// delivery's own earlier create; none is retried (Candid's list may lag).
func (c *Connector) existing(ctx context.Context, createBody []byte) (connectors.Result, error) {
	var in struct {
		ExternalID string `json:"external_id"`
	}
	_ = json.Unmarshal(createBody, &in)
	resp, err := c.call(ctx, outbound.Request{Method: http.MethodGet,
		URL:          c.base + "/api/encounters/v4?" + url.Values{"external_id": {in.ExternalID}, "limit": {"1"}}.Encode(),
		PathTemplate: c.basePath + "/api/encounters/v4"})
	if err != nil {
		return connectors.Result{}, err
	}
	var page struct {
		Items []struct {
			EncounterID string `json:"encounter_id"`
		} `json:"items"`
	}
	if json.Unmarshal(resp.Body, &page) != nil || len(page.Items) == 0 || page.Items[0].EncounterID == "" {
		return connectors.Result{}, &connectors.Error{Class: connectors.Retryable, Status: resp.Status, Code: "candid_external_id_taken",
			Err: errors.New("the external_id is taken but no encounter lists it yet")}
	}
	return connectors.Result{Status: resp.Status, VendorID: page.Items[0].EncounterID}, nil
}

// claimResponseParams are the search parameters the connector translates
// (connectors.SearchDeclarer): a ClaimResponse by the Candid encounter id.
var claimResponseParams = []connectors.SearchParam{{Name: "identifier", Type: "token"}}

// SearchParams implements connectors.SearchDeclarer.
func (c *Connector) SearchParams(_ context.Context, resourceType string) ([]connectors.SearchParam, error) {
	if resourceType != "ClaimResponse" {
		return nil, nil
	}
	return slices.Clone(claimResponseParams), nil
}

// StatesApplied implements connectors.SearchDeclarer: the connector applies
// what it declares.
func (c *Connector) StatesApplied() bool { return false }

// Search implements connectors.Searcher: ClaimResponse?identifier=<encounter
// id> (one value; [https://switchboard.health/id/candid-encounter|]id). Any
// other parameter but _count is a BadSearch: it would not be applied.
func (c *Connector) Search(ctx context.Context, q connectors.SearchQuery) (connectors.SearchPage, error) {
	if q.ResourceType != "ClaimResponse" {
		return connectors.SearchPage{}, connectors.PermanentError("unsupported_resource",
			fmt.Errorf("candid searches ClaimResponse, not %s", q.ResourceType))
	}
	for name := range q.Params {
		if name != connectors.CountParam && !connectors.Declared(claimResponseParams, name) {
			return connectors.SearchPage{}, connectors.BadSearch(name, "Candid does not search ClaimResponse by this parameter")
		}
	}
	if len(q.Params["identifier"]) > 1 {
		return connectors.SearchPage{}, connectors.BadSearch("identifier", "Candid takes one encounter id")
	}
	id := q.Params.Get("identifier")
	if sys, v, ok := strings.Cut(id, "|"); ok {
		if sys != "" && sys != mapping.SystemEncounter {
			return connectors.SearchPage{}, connectors.BadSearch("identifier", "Candid searches the identifier system "+mapping.SystemEncounter+" only")
		}
		id = v
	}
	if id == "" {
		return connectors.SearchPage{}, connectors.BadSearch("identifier", "Candid needs identifier=<encounter id>")
	}
	resp, err := c.call(ctx, outbound.Request{
		Method: http.MethodGet, URL: c.base + "/api/encounters/v4/" + url.PathEscape(id),
		PathTemplate: c.basePath + "/api/encounters/v4/{encounter_id}",
	})
	if err != nil {
		var ce *connectors.Error
		if errors.As(err, &ce) && ce.Status == http.StatusNotFound {
			return connectors.SearchPage{}, nil // no such encounter: an empty Bundle
		}
		return connectors.SearchPage{}, err
	}
	cr, err := mapping.ClaimResponse(resp.Body)
	if err != nil {
		return connectors.SearchPage{}, &connectors.Error{Class: connectors.Retryable, Code: "candid_answer", Err: err}
	}
	return connectors.SearchPage{Resources: []json.RawMessage{cr}}, nil
}

// call sends r with the bearer token and classifies failures.
func (c *Connector) call(ctx context.Context, r outbound.Request) (*outbound.Response, error) {
	tok, err := c.bearer(ctx)
	if err != nil {
		return nil, err
	}
	r.Header = http.Header{"Authorization": {"Bearer " + tok}, "Accept": {"application/json"}}
	if r.Body != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Client.Do(ctx, r)
	if err != nil {
		var ce *connectors.Error
		if errors.As(err, &ce) && ce.Status != 0 {
			ce.Code = errorCode(ce.Status, resp)
			// Candid's docs answer an expired token with 401; the spec
			// declares UnauthorizedError with 403. Both drop the token.
			if ce.Status == http.StatusUnauthorized || ce.Code == "candid_UnauthorizedError" {
				c.drop(tok)
				ce.Class = connectors.Retryable // a fresh token may well do
			}
		}
		return resp, err
	}
	return resp, nil
}

// bearer returns the cached token, fetching one when none is valid.
// The lock is held across the fetch so concurrent deliveries make one call.
func (c *Connector) bearer(ctx context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token != "" && c.now().Before(c.expires) {
		return c.token, nil
	}
	body, _ := json.Marshal(map[string]string{"client_id": c.clientID, "client_secret": c.secret})
	resp, err := c.Client.Do(ctx, outbound.Request{
		Method: http.MethodPost, URL: c.base + "/api/auth/v2/token", PathTemplate: c.basePath + "/api/auth/v2/token",
		Body: body, Header: http.Header{"Content-Type": {"application/json"}, "Accept": {"application/json"}},
	})
	if err != nil {
		var ce *connectors.Error
		if errors.As(err, &ce) && ce.Status != 0 {
			ce.Code = "candid_auth_" + fmt.Sprint(ce.Status)
		}
		return "", err
	}
	var t struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
	}
	if json.Unmarshal(resp.Body, &t) != nil || t.AccessToken == "" {
		return "", &connectors.Error{Class: connectors.Retryable, Status: resp.Status, Code: "candid_auth_answer",
			Err: errors.New("candid's token answer has no access_token")}
	}
	c.token = t.AccessToken
	// Refresh a minute early so a call never leaves with a token about to expire.
	c.expires = c.now().Add(time.Duration(t.ExpiresIn)*time.Second - time.Minute)
	return c.token, nil
}

// drop forgets tok if it is still the cached one.
func (c *Connector) drop(tok string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token == tok {
		c.token = ""
	}
}

// errorWord is the shape of Candid's error names (Fern's errorName, e.g.
// EncounterExternalIdUniquenessError); anything else is not copied.
var errorWord = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,79}$`)

// errorCode is candid_<errorName> from Candid's error body, else
// candid_<status>. Never the content, which can quote the claim.
func errorCode(status int, resp *outbound.Response) string {
	if resp != nil {
		var e struct {
			ErrorName string `json:"errorName"`
		}
		if json.Unmarshal(bytes.TrimSpace(resp.Body), &e) == nil && errorWord.MatchString(e.ErrorName) {
			return "candid_" + e.ErrorName
		}
	}
	return fmt.Sprintf("candid_%d", status)
}
