package validation

import (
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/switchboard-health/switchboard/hub/outcome"
)

// walker checks what google's validator does not: the names of unknown
// elements, empty strings, and the format of references. It walks the
// decoded JSON beside the resource's protobuf descriptor.
type walker struct {
	structure  []outcome.Issue // 400: unknown elements
	values     []outcome.Issue // 400: empty strings
	references []outcome.Issue // 422: malformed references
}

const maxIssues = 20

var (
	relRef = regexp.MustCompile(`^([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(/_history/[A-Za-z0-9\-.]{1,64})?$`)
	urnRef = regexp.MustCompile(`^urn:(uuid:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|oid:[0-2](\.(0|[1-9][0-9]*))+)$`)
)

func (w *walker) add(list *[]outcome.Issue, is outcome.Issue) {
	if len(w.structure)+len(w.values)+len(w.references) < maxIssues {
		is.Severity = "error"
		*list = append(*list, is)
	}
}

// resource walks a resource object at path (e.g. "Patient" or
// "Bundle.entry[0].resource").
func (w *walker) resource(obj map[string]any, md protoreflect.MessageDescriptor, path string) {
	w.object(obj, md, path, true)
}

func (w *walker) object(obj map[string]any, md protoreflect.MessageDescriptor, path string, root bool) {
	keys := keysOf(md)
	names := make([]string, 0, len(obj))
	for k := range obj {
		names = append(names, k)
	}
	sort.Strings(names) // stable issue order
	for _, k := range names {
		v := obj[k]
		if root && k == "resourceType" {
			continue
		}
		base := strings.TrimPrefix(k, "_")
		f, ok := keys[base]
		if !ok || (base != k && !isPrimitive(f)) {
			w.unknown(path, k)
			continue
		}
		if base != k {
			// A primitive's id/extension sibling: an Element.
			if m, ok := v.(map[string]any); ok {
				w.element(m, join(path, k))
			}
			continue
		}
		w.value(v, f, join(path, k))
	}
}

// isPrimitive reports whether a field holds a FHIR primitive (a JSON scalar),
// which is what may have a `_name` sibling.
func isPrimitive(f field) bool {
	if f.reference {
		return true
	}
	return isPrimitiveType(f.target())
}

// elementName matches what can be a FHIR JSON element name (camelCase,
// optionally with the `_` of a primitive's extension sibling).
var elementName = regexp.MustCompile(`^_?[A-Za-z][A-Za-z0-9]{0,63}$`)

// unknown reports key as an element the type does not define. A key that
// cannot be an element name at all is not repeated: keys are chosen by the
// sender and could carry anything, so the issue then names the parent.
func (w *walker) unknown(path, key string) {
	if !elementName.MatchString(key) {
		w.add(&w.structure, outcome.Issue{Code: "structure", Expression: path,
			Diagnostics: "unknown element (a key that is not a FHIR element name)"})
		return
	}
	w.add(&w.structure, outcome.Issue{Code: "structure", Expression: join(path, key),
		Diagnostics: "unknown element (not defined for this type in FHIR R4)"})
}

func (w *walker) element(m map[string]any, path string) {
	for k, v := range m {
		switch k {
		case "id":
			if s, ok := v.(string); ok && s == "" {
				w.add(&w.values, outcome.Issue{Code: "value", Expression: path + ".id", Diagnostics: "empty string (FHIR strings must not be empty)"})
			}
		case "extension":
			arr, _ := v.([]any)
			for i, e := range arr {
				if em, ok := e.(map[string]any); ok {
					w.object(em, extensionDescriptor(), fmt.Sprintf("%s.extension[%d]", path, i), false)
				}
			}
		default:
			w.unknown(path, k)
		}
	}
}

func (w *walker) value(v any, f field, path string) {
	switch x := v.(type) {
	case []any:
		for i, e := range x {
			w.value(e, f, fmt.Sprintf("%s[%d]", path, i))
		}
	case string:
		if !isPrimitive(f) {
			return // a string where an object belongs: google reports the JSON type
		}
		if x == "" {
			w.add(&w.values, outcome.Issue{Code: "value", Expression: path, Diagnostics: "empty string (FHIR strings must not be empty)"})
			return
		}
		if f.reference && !validReference(x) {
			w.add(&w.references, outcome.Issue{Code: "value", Expression: path,
				Diagnostics: "malformed reference: want Type/id, an absolute URL, urn:uuid:, urn:oid: or #contained-id"})
		}
	case map[string]any:
		md := f.target()
		if md == nil {
			return // google reports the wrong JSON type
		}
		if isContained(md) {
			raw, present := x["resourceType"]
			rt, _ := raw.(string)
			switch rmd, ok := resources()[rt]; {
			case ok:
				w.resource(x, rmd, path)
			case !present:
				w.add(&w.structure, outcome.Issue{Code: "required", Expression: path + ".resourceType", Diagnostics: "missing resourceType"})
			default:
				w.add(&w.structure, outcome.Issue{Code: "not-supported", Expression: path + ".resourceType", Diagnostics: "not a FHIR R4 resource type"})
			}
			return
		}
		w.object(x, md, path, false)
	}
}

func validReference(s string) bool {
	if strings.HasPrefix(s, "#") {
		return len(s) > 1 || s == "#"
	}
	if m := relRef.FindStringSubmatch(s); m != nil {
		return IsResourceType(m[1])
	}
	if strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://") {
		return absoluteURL(s)
	}
	return urnRef.MatchString(s)
}

func join(path, key string) string { return path + "." + key }

var extensionDescriptor = func() protoreflect.MessageDescriptor {
	return resources()["Patient"].Fields().ByName("extension").Message()
}

// absoluteURL accepts an absolute reference to a resource on another server:
// a parseable http(s) URL with a host, a path and no whitespace. FHIR asks
// for [base]/Type/id, but references to servers that are not FHIR-shaped
// exist in the wild (and in HL7's examples), so the tail is not enforced.
func absoluteURL(s string) bool {
	if strings.ContainsAny(s, " \t\r\n") {
		return false
	}
	u, err := url.Parse(s)
	return err == nil && u.Host != "" && len(u.Path) > 1
}
