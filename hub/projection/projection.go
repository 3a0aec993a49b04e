// Package projection limits what a destination may receive
// (docs/decisions/0004-routing-is-data.md). A destination's projection is
// applied by the hub when a message is accepted, before the payload is sealed
// into that destination's job, so a destination that must not get clinical
// content never has it in its queue, let alone on the wire; it is not left to
// mapping code.
//
// Projections are allow-lists built into the hub, named in the routing file:
//
//	destinations:
//	  marketing:
//	    type: hubspot
//	    projection: contact
//
//	full     everything (the default)
//	contact  Patient only: id, name (family, given, prefix, suffix, text,
//	         use) and telecom (system, value, use, rank). No identifiers,
//	         extensions, dates, addresses, narrative or contained resources.
package projection

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
)

// Projection limits one destination's payloads.
type Projection interface {
	// Name is the projection's name in the routing file.
	Name() string
	// Allows reports whether resources of this type may be routed through it.
	Allows(resourceType string) bool
	// Apply returns what the destination may receive of resource, a
	// validated FHIR JSON resource of type resourceType. It never returns
	// part of resource in an error.
	Apply(resourceType string, resource []byte) ([]byte, error)
}

// Names lists the built-in projections.
func Names() []string {
	out := make([]string, 0, len(builtin))
	for n := range builtin {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Named returns a built-in projection; "" means full.
func Named(name string) (Projection, error) {
	if name == "" {
		name = "full"
	}
	p, ok := builtin[name]
	if !ok {
		return nil, fmt.Errorf("unknown projection %q (have %v)", name, Names())
	}
	return p, nil
}

var builtin = map[string]Projection{
	"full": full{},
	"contact": allowList{name: "contact", types: map[string]elements{
		"Patient": {
			"resourceType": nil,
			"id":           nil,
			"name":         {"family": nil, "given": nil, "prefix": nil, "suffix": nil, "text": nil, "use": nil},
			"telecom":      {"system": nil, "value": nil, "use": nil, "rank": nil},
		},
	}},
}

type full struct{}

func (full) Name() string                               { return "full" }
func (full) Allows(string) bool                         { return true }
func (full) Apply(_ string, res []byte) ([]byte, error) { return res, nil }

// elements maps an element name to the elements kept inside it (nil: keep
// the value whole; it must then be a primitive).
type elements map[string]elements

type allowList struct {
	name  string
	types map[string]elements
}

func (a allowList) Name() string { return a.name }

func (a allowList) Allows(resourceType string) bool {
	_, ok := a.types[resourceType]
	return ok
}

// ErrNotAllowed means a resource type the projection does not carry.
var ErrNotAllowed = errors.New("projection: resource type not allowed")

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

// project keeps the allowed elements of v, recursing into objects and
// arrays of objects. A primitive where an object is expected is dropped.
func project(v any, keep elements) any {
	switch x := v.(type) {
	case []any:
		var out []any
		for _, item := range x {
			if p := project(item, keep); p != nil {
				out = append(out, p)
			}
		}
		if len(out) == 0 {
			return nil
		}
		return out
	case map[string]any:
		out := map[string]any{}
		for k, sub := range keep {
			val, ok := x[k]
			if !ok {
				continue
			}
			if sub == nil {
				if isPrimitive(val) {
					out[k] = val
				}
				continue
			}
			if p := project(val, sub); p != nil {
				out[k] = p
			}
		}
		if len(out) == 0 {
			return nil
		}
		return out
	}
	return nil
}

// isPrimitive accepts JSON primitives and arrays of them (given names).
func isPrimitive(v any) bool {
	switch x := v.(type) {
	case string, bool, float64:
		return true
	case []any:
		for _, e := range x {
			if !isPrimitive(e) {
				return false
			}
		}
		return true
	}
	return false
}
