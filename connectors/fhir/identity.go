package fhir

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/switchboard-health/switchboard/connectors"
	"github.com/switchboard-health/switchboard/connectors/outbound"
	fhirjson "github.com/switchboard-health/switchboard/mappings/fhir"
)

// The EHR is the source of truth for who a resource is at the other
// vendors (docs/decisions/0001-stateless-about-patients.md): their ids live on
// its resources as identifiers under connectors.IdentifierSystemPrefix. This
// file holds what the connector does for that: refer to its own ids within a
// transaction, keep the hub's identifiers through a client's update, write
// them, read.

// header is what every request carries.
func (c *Connector) header() http.Header {
	h := http.Header{"Accept": {"application/fhir+json"}}
	if c.token != "" {
		h.Set("Authorization", "Bearer "+c.token)
	}
	return h
}

// ownReferences rewrites references to other entries of the same
// transaction ("urn:uuid:…") to this server's ids for them
// (Delivery.Resolved). A urn:uuid left over names an entry this server did
// not get (not routed here, or failed): sending it would store a dangling
// reference, so the delivery fails permanently and says so.
func (c *Connector) ownReferences(d connectors.Delivery) ([]byte, error) {
	refs := make(map[string]string, len(d.Resolved))
	for k, v := range d.Resolved {
		if v.ResourceType != "" && v.ID != "" {
			refs[k] = v.ResourceType + "/" + v.ID
		}
	}
	out, unresolved, err := fhirjson.RewriteReferences(d.Resource, refs)
	if err != nil {
		return nil, connectors.PermanentError("mapping", err)
	}
	if len(unresolved) > 0 {
		return nil, connectors.PermanentError("unresolved_reference",
			fmt.Errorf("%d reference(s) to entries of the same Bundle this server has no id for", len(unresolved)))
	}
	return out, nil
}

// keepHubIdentifiers carries the hub's identifiers (the ids at the other
// vendors) from the server's current version into a client's update that
// omits them: an update replaces the whole resource, and would otherwise
// erase how the other vendors' records are found. It returns the version
// read, "" when the resource does not exist yet (the PUT creates it), and
// the current version itself (nil then).
func (c *Connector) keepHubIdentifiers(ctx context.Context, typ, id string, resource []byte) ([]byte, string, []byte, error) {
	current, err := c.Read(ctx, typ, id)
	if errors.Is(err, connectors.ErrNotFound) {
		return resource, "", nil, nil
	}
	if err != nil {
		return nil, "", nil, err
	}
	out, _, err := fhirjson.MergeIdentifiers(resource, fhirjson.Identifiers(current, connectors.IdentifierSystemPrefix), false)
	if err != nil {
		return nil, "", nil, connectors.PermanentError("mapping", err)
	}
	return out, fhirjson.VersionID(current), current, nil
}

// supersedes reports whether current, the server's version of a record a
// vendor change is about to replace, is someone else's edit made after
// that change: the later vendor timestamp wins, so the change is dropped
// and the edit, which the poller brings in, stands. Versions the hub wrote
// (meta.source) do not count: they carry earlier changes, not newer ones.
func supersedes(current []byte, changedAt time.Time) bool {
	if changedAt.IsZero() || current == nil || fhirjson.MadeByHub(current) {
		return false
	}
	var r struct {
		Meta struct {
			LastUpdated string `json:"lastUpdated"`
		} `json:"meta"`
	}
	if json.Unmarshal(current, &r) != nil {
		return false
	}
	t, err := time.Parse(time.RFC3339Nano, r.Meta.LastUpdated)
	return err == nil && t.After(changedAt)
}

// Read implements connectors.Reader: GET {base}/{type}/{id}.
func (c *Connector) Read(ctx context.Context, typ, id string) ([]byte, error) {
	resp, err := c.Client.Do(ctx, outbound.Request{Method: http.MethodGet,
		URL: c.base + "/" + typ + "/" + url.PathEscape(id), PathTemplate: "/" + typ + "/{id}", Header: c.header()})
	if err != nil {
		var ce *connectors.Error
		if errors.As(err, &ce) && (ce.Status == http.StatusNotFound || ce.Status == http.StatusGone) {
			return nil, fmt.Errorf("%s/{id}: %w", typ, connectors.ErrNotFound)
		}
		return nil, err
	}
	return resp.Body, nil
}

// WriteIdentifier implements connectors.IdentifierWriter: read the
// resource, add or replace the identifier, and PUT it back under If-Match,
// so a concurrent write is never lost (412 is retried, reading again).
// Nothing is written when the identifier is already there.
func (c *Connector) WriteIdentifier(ctx context.Context, w connectors.IdentifierWrite) error {
	if !strings.HasPrefix(w.Identifier.System, connectors.IdentifierSystemPrefix) || w.Identifier.ID == "" {
		return connectors.PermanentError("identifier", errors.New("only the hub's own identifier systems are written back"))
	}
	current, err := c.Read(ctx, w.ResourceType, w.ID)
	if err != nil {
		if errors.Is(err, connectors.ErrNotFound) {
			return connectors.PermanentError("not_found", err)
		}
		return err
	}
	updated, changed, err := fhirjson.MergeIdentifiers(current,
		[]fhirjson.Identifier{{System: w.Identifier.System, Value: w.Identifier.ID}}, true)
	if err != nil {
		return connectors.PermanentError("mapping", err)
	}
	if !changed {
		return nil
	}
	body, err := fhirjson.Outbound(updated)
	if err != nil {
		return connectors.PermanentError("mapping", err)
	}
	h := c.header()
	h.Set("Content-Type", "application/fhir+json")
	key := w.IdempotencyKey
	if v := fhirjson.VersionID(current); v != "" {
		h.Set("If-Match", `W/"`+v+`"`)
		key += ":v" + v
	}
	_, err = c.Client.Do(ctx, outbound.Request{Method: http.MethodPut,
		URL: c.base + "/" + w.ResourceType + "/" + url.PathEscape(w.ID), PathTemplate: "/" + w.ResourceType + "/{id}",
		Header: h, Body: body, IdempotencyKey: key})
	var ce *connectors.Error
	if errors.As(err, &ce) && ce.Status == http.StatusPreconditionFailed {
		ce.Class, ce.Code = connectors.Retryable, "version_conflict"
	}
	return err
}

// findByIdentifier returns the id of the one resource of typ whose
// identifier is match ("system|value"), "" when there is none. Two matches
// are the EHR's data problem, not something to guess at: permanent.
func (c *Connector) findByIdentifier(ctx context.Context, typ, match string) (string, error) {
	if match == "" {
		return "", connectors.PermanentError("no_match", errors.New("an update without an id needs an identifier to find the record"))
	}
	page, err := c.lookup(ctx, connectors.SearchQuery{ResourceType: typ, Params: url.Values{"identifier": {match}}})
	if err != nil {
		return "", err
	}
	switch len(page.Resources) {
	case 0:
		return "", nil
	case 1:
		var r struct{ ID string }
		_ = json.Unmarshal(page.Resources[0], &r)
		if r.ID == "" {
			return "", connectors.PermanentError("no_id", errors.New("the matching resource has no id"))
		}
		return r.ID, nil
	default:
		return "", connectors.PermanentError("ambiguous_match", fmt.Errorf("%d %s resources carry the identifier", len(page.Resources), typ))
	}
}
