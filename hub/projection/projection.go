// Package projection limits what a destination may receive
// (docs/decisions/0004-routing-is-data.md). A destination's projection is
// applied by the hub when a message is accepted, before the payload is sealed
// into that destination's job, so a destination that must not get clinical
// content never has it in its queue, let alone on the wire; it is not left to
// mapping code.
//
// A projection is data in the routing file: per resource type, the FHIR R4
// elements kept, as dotted paths from the resource (name keeps every name
// whole; name.family keeps only the family inside each name). The resource
// types it lists are the only ones the destination may receive;
// resourceType is always kept. Or a preset's name:
//
//	destinations:
//	  marketing:
//	    type: hubspot
//	    projection: contact
//	  newsletter:
//	    type: hubspot
//	    projection:
//	      Patient: [id, name.given, telecom.system, telecom.value]
//
//	full     everything (the default)
//	contact  Patient only: id, name (family, given, prefix, suffix, text,
//	         use) and telecom (system, value, use, rank). No identifiers,
//	         extensions, dates, addresses, narrative or contained resources.
//
// The routing file is checked against FHIR R4 (package validation): an
// element the type does not have is an error at start-up, not a field
// silently never sent. See docs/decisions/0014-the-hub-names-no-vendor.md.
package projection

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
)

// Projection limits one destination's payloads.
type Projection interface {
	// Name is the projection's name in the routing file ("declared" for a
	// field list).
	Name() string
	// Allows reports whether resources of this type may be routed through it.
	Allows(resourceType string) bool
	// Apply returns what the destination may receive of resource, a
	// validated FHIR JSON resource of type resourceType. It never returns
	// part of resource in an error.
	Apply(resourceType string, resource []byte) ([]byte, error)
}

// Fields is a projection as the routing file declares it: per resource
// type, the element paths kept.
type Fields map[string][]string

// presets are the projections a routing file names. Each is a field list,
// built like a declared one, so a preset cannot mean anything a routing
// file could not say.
func presets() map[string]Fields {
	return map[string]Fields{
		"contact": {"Patient": {"id",
			"name.family", "name.given", "name.prefix", "name.suffix", "name.text", "name.use",
			"telecom.system", "telecom.value", "telecom.use", "telecom.rank"}},
	}
}

// Preset returns a preset's field list; false for "full" (no list) and for
// a name that is none.
func Preset(name string) (Fields, bool) {
	f, ok := presets()[name]
	return f, ok
}

// Names lists the presets, full among them.
func Names() []string {
	out := []string{"full"}
	for n := range presets() {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Named returns a preset; "" means full.
func Named(name string) (Projection, error) {
	if name == "" || name == "full" {
		return full{}, nil
	}
	f, ok := presets()[name]
	if !ok {
		return nil, fmt.Errorf("unknown projection %q (have %v, or a field list per resource type)", name, Names())
	}
	return build(name, f)
}

// Declared returns the projection of a field list, each path checked
// against the FHIR R4 elements of its resource type.
func Declared(f Fields) (Projection, error) {
	return build("declared", f)
}

type full struct{}

func (full) Name() string                               { return "full" }
func (full) Allows(string) bool                         { return true }
func (full) Apply(_ string, res []byte) ([]byte, error) { return res, nil }

// ErrNotAllowed means a resource type the projection does not carry.
var ErrNotAllowed = errors.New("projection: resource type not allowed")

type allowList struct {
	name  string
	types map[string]elements
}

func (a allowList) Name() string { return a.name }

func (a allowList) Allows(resourceType string) bool {
	_, ok := a.types[resourceType]
	return ok
}

func (a allowList) Apply(resourceType string, res []byte) ([]byte, error) {
	keep, ok := a.types[resourceType]
	if !ok {
		return nil, fmt.Errorf("%w: %s through %s", ErrNotAllowed, resourceType, a.name)
	}
	var v any
	if err := json.Unmarshal(res, &v); err != nil {
		return nil, errors.New("projection: resource is not JSON")
	}
	out, _ := project(v, keep).(map[string]any)
	if out == nil {
		return nil, errors.New("projection: resource is not a JSON object")
	}
	return json.Marshal(out)
}
