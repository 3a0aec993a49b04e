package validation

import "strings"

// Element reports whether path, element names joined by dots from the
// resource down ("name", "name.family", "valueQuantity.unit"), names an
// element of resourceType in FHIR R4, and whether that element is a
// primitive (a JSON scalar, or an array of them). A choice element is
// named with its type, as in JSON (deceasedBoolean). Package projection
// checks a routing file's field lists with it.
func Element(resourceType, path string) (primitive, ok bool) {
	md, ok := resources()[resourceType]
	if !ok || path == "" {
		return false, false
	}
	for name := range strings.SplitSeq(path, ".") {
		if md == nil || isContained(md) {
			return false, false // no element inside a primitive or a whole resource
		}
		f, ok := keysOf(md)[name]
		if !ok {
			return false, false
		}
		md = f.target()
		if isPrimitiveType(md) {
			md = nil
		}
	}
	return md == nil, true
}
