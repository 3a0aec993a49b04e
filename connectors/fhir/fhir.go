// Package fhir is the EHR connector (type "fhir"): it delivers to any FHIR
// R4 server (Epic, Cerner, athena, Healthie, Elation expose one). Creates are
// POST {base}/{Type}, conditional on the first identifier (If-None-Exist),
// so a retried create after a lost answer finds the record instead of
// duplicating it; updates are PUT {base}/{Type}/{id}. Every request also
// carries the Idempotency-Key, which servers that support it honour. The
// hub also polls it for changes (poll.go): every version the hub writes
// names the hub in meta.source, so a poll tells the hub's own writes from
// everyone else's.
//
// Configuration (the destination's `config:` block):
//
//	base_url          the server's FHIR base, e.g. https://ehr.example/fhir/R4 (required)
//	auth_token_env    environment variable holding a bearer token (optional)
//	poll_types        resource types polled for changes (default [Patient, Appointment])
//	timeout           one HTTP try, e.g. 10s
//	retry_max         extra tries within one delivery attempt
//	breaker_failures  consecutive failed attempts that open the breaker
//	breaker_open_for  how long it stays open, e.g. 30s
package fhir

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
	"github.com/switchboard-health/switchboard/connectors/webhook"
	fhirjson "github.com/switchboard-health/switchboard/mappings/fhir"
)

// typeName is the connector's registered type.
const typeName = "fhir"

func init() {
	connectors.Register(connectors.Spec{
		Type:    typeName,
		Summary: "any FHIR R4 server (the EHR): conditional create on identifier, update by id",
		Config:  Config{},
		Docs: connectors.Docs{
			Vendor:   "any FHIR R4 server (the EHR; `cmd/vendorsim` locally)",
			Receives: "any resource: conditional create on its first identifier (`If-None-Exist`), update by id, with the origin tag in `meta.tag`",
			Searches: "any type, with the parameters its server applies (its `self` link) and lists (its CapabilityStatement), following the server's `next` links",
			IDs:      "the server's own ids",
		},
		New: New,
	})
}

// Config is the connector's configuration block.
type Config struct {
	BaseURL      string `yaml:"base_url" doc:"FHIR base URL (required)"`
	AuthTokenEnv string `yaml:"auth_token_env" doc:"environment variable with a bearer token (optional)"`
	// WebhookSecretsEnv names the environment variables holding the
	// webhook secrets (several during a rotation).
	WebhookSecretsEnv []string `yaml:"webhook_secrets_env" doc:"environment variables holding the webhook secrets, several while rotating (optional: without them webhooks are refused)"`
	// PollTypes are the resource types polled for changes, in order;
	// empty means Patient and Appointment.
	PollTypes         []string `yaml:"poll_types" doc:"resource types polled for changes, in order (optional; default [Patient, Appointment])"`
	outbound.Settings `yaml:",inline"`
}

// Connector delivers to one FHIR server.
type Connector struct {
	outbound.Base
	webhook.Receiver
	base      string
	token     string
	pollTypes []string
	caps      capabilities // the server's search parameters (search.go)
}

// New builds the connector and validates its configuration.
func New(p connectors.Params) (connectors.Connector, error) {
	var c Config
	if err := p.Decode(&c); err != nil {
		return nil, err
	}
	b := outbound.NewBase(typeName, p, c.Settings)
	u, err := url.Parse(c.BaseURL)
	if c.BaseURL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, b.Errorf("base_url must be an http(s) URL of the FHIR base")
	}
	conn := &Connector{Base: b, base: strings.TrimRight(c.BaseURL, "/")}
	if conn.pollTypes, err = pollTypes(b, c.PollTypes); err != nil {
		return nil, err
	}
	if c.AuthTokenEnv != "" {
		v, _ := p.Env(c.AuthTokenEnv)
		if v == "" {
			return nil, b.Errorf("environment variable %s is empty", c.AuthTokenEnv)
		}
		conn.token = v
	}
	if conn.Receiver, err = webhook.NewReceiver(p, typeName, c.WebhookSecretsEnv,
		func(s []string) (connectors.WebhookVerifier, error) {
			return webhook.NewStandard(s, webhook.DefaultTolerance)
		}); err != nil {
		return nil, err
	}
	return conn, nil
}

// Deliver implements connectors.Deliverer.
func (c *Connector) Deliver(ctx context.Context, d connectors.Delivery) (connectors.Result, error) {
	resource, err := c.ownReferences(d)
	if err != nil {
		return connectors.Result{}, err
	}
	if resource, err = c.resolveLogical(ctx, resource); err != nil {
		return connectors.Result{}, err
	}
	h := c.header()
	h.Set("Content-Type", "application/fhir+json")
	req := outbound.Request{Header: h, IdempotencyKey: d.IdempotencyKey}
	switch d.Interaction {
	case connectors.Create:
		req.Method, req.URL = http.MethodPost, c.base+"/"+d.ResourceType
		if cond := fhirjson.ConditionalCreate(resource); cond != "" {
			h.Set("If-None-Exist", cond)
		}
	case connectors.Update:
		if d.ResourceID == "" {
			// A change a vendor reported: update the record Match finds,
			// or create it.
			id, err := c.findByIdentifier(ctx, d.ResourceType, d.Match)
			if err != nil {
				return connectors.Result{}, err
			}
			if id == "" {
				req.Method, req.URL = http.MethodPost, c.base+"/"+d.ResourceType
				if d.Match != "" {
					h.Set("If-None-Exist", "identifier="+url.QueryEscape(d.Match))
				}
				break
			}
			d.ResourceID = id
			if resource, err = fhirjson.WithID(resource, id); err != nil {
				return connectors.Result{}, connectors.PermanentError("mapping", err)
			}
		}
		req.Method, req.URL = http.MethodPut, c.base+"/"+d.ResourceType+"/"+url.PathEscape(d.ResourceID)
		var version string
		var current []byte
		if resource, version, current, err = c.keepHubIdentifiers(ctx, d.ResourceType, d.ResourceID, resource); err != nil {
			return connectors.Result{}, err
		}
		if supersedes(current, d.ChangedAt) {
			return connectors.Result{Status: http.StatusOK, VendorID: d.ResourceID, Superseded: true}, nil
		}
		if version != "" {
			// The identifiers kept were read at this version: a write in
			// between (an identifier written back) makes the PUT fail with
			// 412 and the retry read again. The key follows the version, so
			// that a retry at the same version replays and a new one is a
			// new request.
			h.Set("If-Match", `W/"`+version+`"`)
			req.IdempotencyKey += ":v" + version
		}
	default:
		return connectors.Result{}, connectors.PermanentError("unsupported_interaction", fmt.Errorf("interaction %q", d.Interaction))
	}
	if req.Body, err = fhirjson.Outbound(resource); err != nil {
		return connectors.Result{}, connectors.PermanentError("mapping", err)
	}
	resp, err := c.Client.Do(ctx, req)
	if err != nil {
		var ce *connectors.Error
		if errors.As(err, &ce) && ce.Status == http.StatusPreconditionFailed && h.Get("If-Match") != "" {
			// Our own If-Match lost to a write in between: read again.
			ce.Class, ce.Code = connectors.Retryable, "version_conflict"
			return connectors.Result{}, err
		}
		if ce != nil && resp != nil {
			if code := issueCode(resp.Body); code != "" {
				ce.Code += ":" + code
			}
		}
		return connectors.Result{}, err
	}
	return connectors.Result{Status: resp.Status, VendorID: vendorID(resp)}, nil
}

// issueCode reads the first OperationOutcome issue code (never diagnostics,
// which may echo the input).
func issueCode(body []byte) string {
	var oo struct {
		Issue []struct{ Code string } `json:"issue"`
	}
	if json.Unmarshal(body, &oo) == nil && len(oo.Issue) > 0 {
		return oo.Issue[0].Code
	}
	return ""
}

func vendorID(resp *outbound.Response) string {
	if loc := resp.Header.Get("Location"); loc != "" {
		parts := strings.Split(strings.TrimRight(loc, "/"), "/")
		for i := len(parts) - 1; i > 0; i-- {
			if parts[i] == "_history" && i >= 1 {
				return parts[i-1]
			}
		}
		return parts[len(parts)-1]
	}
	var r struct{ ID string }
	_ = json.Unmarshal(resp.Body, &r)
	return r.ID
}
