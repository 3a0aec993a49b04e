package validation

import (
	"strconv"
	"strings"
)

// locate turns a JSON path, as the parser saw it, into a FHIRPath
// expression rooted at rt (Patient.name[0].given[1]) that names only what
// FHIR R4 defines. It follows the path through the resource's descriptors,
// and through the decoded tree for the type of a contained or Bundle entry
// resource, and stops at the parent of the first key that is no element
// there. Keys are the sender's: one that FHIR does not define could carry
// anything (a patient's name), so it is never repeated.
func locate(root map[string]any, rt string, path []step) string {
	expr := rt
	md := resources()[rt]
	var cur any = root
	isResource := true // cur is a resource object: resourceType is a key
	inElement := false // cur is a primitive's _name sibling (an Element)
	for _, s := range path {
		if s.index >= 0 {
			arr, ok := cur.([]any)
			if !ok || s.index >= len(arr) {
				return expr
			}
			expr += "[" + strconv.Itoa(s.index) + "]"
			cur = arr[s.index]
			continue
		}
		obj, ok := cur.(map[string]any)
		if !ok {
			return expr
		}
		if inElement {
			switch s.key {
			case "id":
				md = nil
			case "extension":
				md = extensionDescriptor()
			default:
				return expr
			}
			expr, cur, inElement = join(expr, s.key), obj[s.key], false
			continue
		}
		if md == nil {
			return expr // a key inside a primitive
		}
		if isContained(md) {
			t, _ := obj["resourceType"].(string)
			rmd, ok := resources()[t]
			if !ok {
				return expr
			}
			md, isResource = rmd, true
		}
		if isResource && s.key == "resourceType" {
			return join(expr, s.key)
		}
		base := strings.TrimPrefix(s.key, "_")
		f, ok := keysOf(md)[base]
		if !ok || (base != s.key && !isPrimitive(f)) {
			return expr
		}
		expr, cur, isResource = join(expr, s.key), obj[s.key], false
		if base != s.key {
			md, inElement = nil, true
		} else {
			md = f.target()
		}
	}
	return expr
}
