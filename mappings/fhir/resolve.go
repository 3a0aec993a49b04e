package fhir

import (
	"encoding/json"
	"strings"
)

// Resolver finds the resource a reference in one resource points to,
// within what one delivery carries: a contained resource ("#id") or
// another entry of the same Bundle (connectors.Delivery.Related, keyed by
// the reference as written: a fullUrl such as urn:uuid:…, or Type/id). It
// never fetches anything.
type Resolver struct {
	contained map[string][]byte
	related   map[string][]byte
}

// NewResolver indexes a resource's contained resources by id beside the
// delivery's related ones.
func NewResolver(contained []json.RawMessage, related map[string][]byte) Resolver {
	r := Resolver{contained: map[string][]byte{}, related: related}
	for _, c := range contained {
		var h struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(c, &h) == nil && h.ID != "" {
			r.contained[h.ID] = c
		}
	}
	return r
}

// Resolve returns the resource ref points to, or nil.
func (r Resolver) Resolve(ref string) []byte {
	if ref == "" {
		return nil
	}
	if id, ok := strings.CutPrefix(ref, "#"); ok {
		return r.contained[id]
	}
	return r.related[ref]
}
