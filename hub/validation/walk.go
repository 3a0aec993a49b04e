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

// walker checks what google's validator does not: where unknown elements
// are, and the format of references. It walks the decoded JSON beside the
// resource's protobuf descriptor.
type walker struct {
	parsed     []outcome.Issue // 400: the parser's findings (parse.go)
	structure  []outcome.Issue // 400: unknown elements
	references []outcome.Issue // 422: malformed references
	// unknownAt holds the parents already reported for an unknown element:
	// one issue per parent, however many unknown keys it has.
	unknownAt map[string]bool
}

const maxIssues = 20

var (
	relRef = regexp.MustCompile(`^([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(/_history/[A-Za-z0-9\-.]{1,64})?$`)
	urnRef = regexp.MustCompile(`^urn:(uuid:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|oid:[0-2](\.(0|[1-9][0-9]*))+)$`)
)

func (w *walker) add(list *[]outcome.Issue, is outcome.Issue) {
	if len(w.parsed)+len(w.structure)+len(w.references) < maxIssues {
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
			w.unknown(path)
			continue
		}
		if base != k {
			// A primitive's id/extension sibling: an Element, or an array
			// of them (null placeholders are the parser's to judge).
			switch x := v.(type) {
			case map[string]any:
				w.element(x, join(path, k))
			case []any:
				for i, e := range x {
					if m, ok := e.(map[string]any); ok {
						w.element(m, fmt.Sprintf("%s.%s[%d]", path, k, i))
					}
				}
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

// unknown reports an element the type does not define. The issue names
// the parent, never the key: keys are chosen by the sender and could carry
// anything, a patient's name included.
func (w *walker) unknown(path string) {
	if w.unknownAt[path] {
		return
	}
	if w.unknownAt == nil {
		w.unknownAt = map[string]bool{}
	}
	w.unknownAt[path] = true
	w.add(&w.structure, outcome.Issue{Code: "structure", Expression: path,
		Diagnostics: "unknown element (this element holds a key FHIR R4 does not define for its type)"})
}

func (w *walker) element(m map[string]any, path string) {
	for k, v := range m {
		switch k {
		case "id": // a string: the parser judges an empty one
		case "extension":
			arr, _ := v.([]any)
			for i, e := range arr {
				if em, ok := e.(map[string]any); ok {
					w.object(em, extensionDescriptor(), fmt.Sprintf("%s.extension[%d]", path, i), false)
				}
			}
		default:
			w.unknown(path)
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
		// An empty or blank string is the parser's to report.
		if f.reference && strings.TrimSpace(x) != "" && !validReference(x) {
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
