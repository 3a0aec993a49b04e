package identity

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/switchboard-health/switchboard/connectors"
	"github.com/switchboard-health/switchboard/hub/projection"
	fhirjson "github.com/switchboard-health/switchboard/mappings/fhir"
)

// maxReads bounds the references one delivery reads from the source.
const maxReads = 8

// Enricher implements delivery.Enricher from the source of truth.
type Enricher struct {
	// Source is the source of truth's destination name; deliveries to it
	// are left alone.
	Source string
	Reader connectors.Reader
	// Project applies a destination's projection to a resource read for
	// it (route.Table.Project); projection.ErrNotAllowed leaves it out.
	Project func(dest, resourceType string, resource []byte) ([]byte, error)
	// Full reports whether a destination receives whole resources; only
	// those get the vendor identifiers merged in (a contact projection
	// carries no identifiers, and the hub does not add any behind it).
	Full func(dest string) bool
}

// Enrich implements delivery.Enricher. Reads that fail are retryable
// failures of the delivery: sending without the ids could duplicate a
// record at the vendor.
func (e *Enricher) Enrich(ctx context.Context, dest string, d *connectors.Delivery) error {
	if dest == e.Source {
		return nil
	}
	if d.Interaction == connectors.Update && d.ResourceID != "" && (e.Full == nil || e.Full(dest)) {
		cur, err := e.Reader.Read(ctx, d.ResourceType, d.ResourceID)
		switch {
		case errors.Is(err, connectors.ErrNotFound):
		case err != nil:
			return fmt.Errorf("identity: read %s/{id} at %s: %w", d.ResourceType, e.Source, err)
		default:
			ids := fhirjson.Identifiers(cur, connectors.IdentifierSystemPrefix)
			if d.Resource, _, err = fhirjson.MergeIdentifiers(d.Resource, ids, false); err != nil {
				return connectors.PermanentError("mapping", err)
			}
		}
	}
	reads := 0
	for _, ref := range literalRefs(d.Resource) {
		if _, have := d.Related[ref]; have || reads == maxReads {
			continue
		}
		typ, id, _ := strings.Cut(ref, "/")
		reads++
		res, err := e.Reader.Read(ctx, typ, id)
		if errors.Is(err, connectors.ErrNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("identity: read a referenced %s at %s: %w", typ, e.Source, err)
		}
		if e.Project != nil {
			res, err = e.Project(dest, typ, res)
			if errors.Is(err, projection.ErrNotAllowed) {
				continue
			}
			if err != nil {
				return connectors.PermanentError("projection", err)
			}
		}
		if d.Related == nil {
			d.Related = map[string][]byte{}
		}
		d.Related[ref] = res
	}
	return nil
}

// literalRefs lists the relative literal references of a resource
// ("Patient/123"), each once: not contained ("#…"), not Bundle entries
// ("urn:…"), not absolute URLs (another server's).
func literalRefs(resource []byte) []string {
	var out []string
	seen := map[string]bool{}
	for _, r := range fhirjson.References(resource) {
		typ, id, ok := strings.Cut(r, "/")
		if !ok || typ == "" || id == "" || strings.Contains(id, "/") || typ[0] < 'A' || typ[0] > 'Z' || seen[r] {
			continue
		}
		seen[r] = true
		out = append(out, r)
	}
	return out
}
