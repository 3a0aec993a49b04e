package projection

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/switchboard-health/switchboard/hub/validation"
)

// element is one kept element: the elements kept inside it, or, with
// none, the element whole.
type element struct {
	// primitive: the element is a FHIR primitive, so only a JSON scalar
	// (or an array of them) is kept there.
	primitive bool
	inside    elements
}

// elements maps an element name to what is kept of it.
type elements map[string]*element

// build turns a field list into an allow-list, checking every path.
func build(name string, f Fields) (Projection, error) {
	if len(f) == 0 {
		return nil, errors.New("projection: the field list names no resource type")
	}
	a := allowList{name: name, types: map[string]elements{}}
	var errs []error
	for _, typ := range sortedTypes(f) {
		paths := f[typ]
		if !validation.IsResourceType(typ) {
			errs = append(errs, fmt.Errorf("projection: %q is not a FHIR R4 resource type", typ))
			continue
		}
		if len(paths) == 0 {
			errs = append(errs, fmt.Errorf("projection: %s lists no element", typ))
			continue
		}
		keep := elements{"resourceType": {primitive: true}}
		for _, p := range paths {
			primitive, ok := validation.Element(typ, p)
			if !ok {
				errs = append(errs, fmt.Errorf("projection: %s.%s is not a FHIR R4 element", typ, p))
				continue
			}
			keep.add(strings.Split(p, "."), primitive)
		}
		a.types[typ] = keep
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return a, nil
}

// add keeps the element at path; an element kept whole stays whole
// whatever else inside it is listed.
func (e elements) add(path []string, primitive bool) {
	cur, ok := e[path[0]]
	if len(path) == 1 {
		e[path[0]] = &element{primitive: primitive}
		return
	}
	if ok && cur.inside == nil {
		return // already kept whole
	}
	if !ok {
		cur = &element{inside: elements{}}
		e[path[0]] = cur
	}
	cur.inside.add(path[1:], primitive)
}

func sortedTypes(f Fields) []string {
	out := make([]string, 0, len(f))
	for t := range f {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// project keeps the allowed elements of v, recursing into objects and
// arrays of objects. A value of the wrong JSON shape is dropped: an object
// where a primitive belongs, a scalar where an object belongs.
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
		for k, e := range keep {
			val, ok := x[k]
			if !ok {
				continue
			}
			switch {
			case e.inside != nil:
				if p := project(val, e.inside); p != nil {
					out[k] = p
				}
			case e.primitive:
				if isPrimitive(val) {
					out[k] = val
				}
			case isComplex(val):
				out[k] = val
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

// isComplex accepts a JSON object and an array of them.
func isComplex(v any) bool {
	switch x := v.(type) {
	case map[string]any:
		return true
	case []any:
		for _, e := range x {
			if _, ok := e.(map[string]any); !ok {
				return false
			}
		}
		return len(x) > 0
	}
	return false
}
