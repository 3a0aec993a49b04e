// Package validation is the hub's FHIR R4 boundary. Every inbound resource is
// checked strictly before it is accepted, in one pass over its bytes
// (compiled.go, with tables compiled from google/fhir's R4 descriptors in
// tables.go; docs/decisions/0015-compiled-validator.md):
//
//   - JSON types, dates, codes in required bindings, ids, cardinality,
//     required elements and reference target types, as google/fhir's
//     validating jsonformat unmarshaller checks them;
//   - what FHIR's JSON rules forbid though JSON allows it: duplicate keys,
//     null (except as a primitive array's placeholder), empty arrays and
//     objects, empty or whitespace-only strings, unpaired surrogate escapes;
//   - what google lacks (see ../shared/FHIR-NOTES.md): where an unknown
//     element is (google names no path for some), and the format of
//     references.
//
// The two-pass path it replaced (parse.go's strict parser and walk.go's
// walk, then google's unmarshaller) stays as the oracle of the differential
// test and fuzz target (differential_test.go).
//
// Errors are *outcome.Error values whose issues name the element at fault as
// a FHIRPath rooted at the resource (Patient.name[0].family) or the Bundle
// (Bundle.entry[2].resource.birthDate): 400 for what is malformed, 422 for
// what is well-formed but breaks a rule (a missing required element, a
// malformed or mistargeted reference). No input value is ever echoed, and
// no key either unless FHIR R4 defines it there: an unknown element is
// reported at its parent (locate.go).
package validation

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/google/fhir/go/fhirversion"
	"github.com/google/fhir/go/jsonformat"

	"github.com/switchboard-health/switchboard/hub/outcome"
)

// Validator validates FHIR R4 JSON. It is safe for concurrent use.
type Validator struct {
	u *jsonformat.Unmarshaller
	// google selects the two-pass path (parser, walker and google's
	// unmarshaller) over the compiled one (compiled.go); the differential
	// test holds them to the same verdicts.
	google bool
}

// New builds a Validator.
func New() (*Validator, error) {
	u, err := jsonformat.NewUnmarshaller("UTC", fhirversion.R4)
	if err != nil {
		return nil, fmt.Errorf("validation: build FHIR R4 unmarshaller: %w", err)
	}
	return &Validator{u: u}, nil
}

// Resource is a validated resource.
type Resource struct {
	Type string
	ID   string
	// Raw is the resource's JSON exactly as received: callers forward these
	// bytes, never a re-encoding (samply's structs lose data).
	Raw []byte
}

// Bundle is a validated batch or transaction Bundle.
type Bundle struct {
	Type    string
	Entries []Entry
}

// Entry is one Bundle entry.
type Entry struct {
	FullURL     string
	Method      string
	URL         string
	IfNoneExist string
	Resource    *Resource
}

// Resource validates one resource; wantType "" accepts any type.
func (v *Validator) Resource(body []byte, wantType string) (*Resource, error) {
	if v.google {
		return v.resourceViaGoogle(body, wantType)
	}
	rt, id, err := validateCompiled(body, wantType)
	if err != nil {
		return nil, err
	}
	return &Resource{Type: rt, ID: id, Raw: body}, nil
}

// resourceViaGoogle is Resource on the two-pass path: the strict parser
// and walker, then google's validating unmarshaller.
func (v *Validator) resourceViaGoogle(body []byte, wantType string) (*Resource, error) {
	obj, sc, oe := object(body)
	if oe != nil {
		return nil, oe
	}
	rt, oe := resourceType(obj)
	if oe != nil {
		return nil, oe
	}
	if wantType != "" && rt != wantType {
		return nil, outcome.New(http.StatusBadRequest, "invalid", wantType+".resourceType",
			"the resource type in the body differs from the one in the URL")
	}
	w := walker{parsed: jsonIssues(body, obj, rt, sc.issues)}
	w.resource(obj, resources()[rt], rt)
	if err := v.check(&w, forGoogle(body, sc.placeholders)); err != nil {
		return nil, err
	}
	id, _ := obj["id"].(string)
	return &Resource{Type: rt, ID: id, Raw: body}, nil
}

// check combines the parser's and the walker's findings with google's
// validation.
func (v *Validator) check(w *walker, body []byte) error {
	if len(w.parsed)+len(w.structure) > 0 {
		return &outcome.Error{Status: http.StatusBadRequest, Issues: append(w.parsed, w.structure...)}
	}
	if _, err := v.u.Unmarshal(body); err != nil {
		return fromGoogle(err)
	}
	if len(w.references) > 0 {
		return &outcome.Error{Status: http.StatusUnprocessableEntity, Issues: w.references}
	}
	return nil
}

func object(body []byte) (map[string]any, scan, *outcome.Error) {
	val, sc, err := parse(body)
	if err != nil {
		se := err.(*syntaxError)
		return nil, sc, outcome.New(http.StatusBadRequest, "structure", "", "invalid JSON: "+se.reason+" "+position(body, se.offset))
	}
	obj, ok := val.(map[string]any)
	if !ok {
		return nil, sc, outcome.New(http.StatusBadRequest, "structure", "", "the body must be a JSON object (a FHIR resource)")
	}
	return obj, sc, nil
}

// jsonIssues renders the parser's findings in a resource of type rt.
func jsonIssues(body []byte, obj map[string]any, rt string, found []jsonIssue) []outcome.Issue {
	if len(found) == 0 {
		return nil
	}
	out := make([]outcome.Issue, len(found))
	for i, f := range found {
		diag := f.diag
		if diag == diagDuplicate {
			diag += " " + position(body, f.offset)
		}
		out[i] = outcome.Issue{Severity: "error", Code: f.code, Expression: locate(obj, rt, f.path), Diagnostics: diag}
	}
	return out
}

func resourceType(obj map[string]any) (string, *outcome.Error) {
	raw, present := obj["resourceType"]
	if !present {
		return "", outcome.New(http.StatusBadRequest, "required", "resourceType", "missing resourceType")
	}
	rt, ok := raw.(string)
	if !ok || !IsResourceType(rt) {
		return "", outcome.New(http.StatusBadRequest, "not-supported", "resourceType", "not a FHIR R4 resource type")
	}
	return rt, nil
}

var googleErr = regexp.MustCompile(`error at "([^"]*)": (.*)`)

// fromGoogle maps jsonformat's errors (their types are internal; their
// messages read `error at "Patient.link[0]": missing required field "other"`)
// to issues. Anything it cannot place is reported at the resource root
// rather than at a wrong element.
func fromGoogle(err error) *outcome.Error {
	status := http.StatusUnprocessableEntity
	var issues []outcome.Issue
	for _, line := range strings.Split(err.Error(), "\n") {
		m := googleErr.FindStringSubmatch(line)
		path, detail := "", strings.TrimSpace(line)
		if m != nil {
			path, detail = normalizePath(m[1]), m[2]
		}
		is, st := classify(path, detail)
		if st == http.StatusBadRequest {
			status = http.StatusBadRequest
		}
		if len(issues) < maxIssues {
			issues = append(issues, is)
		}
	}
	return &outcome.Error{Status: status, Issues: issues}
}

var missingField = regexp.MustCompile(`^missing required field "([^"]+)"$`)
var multipleValues = regexp.MustCompile(`^cannot accept multiple values for (\w+) field$`)

func classify(path, detail string) (outcome.Issue, int) {
	is := outcome.Issue{Severity: "error", Expression: path}
	switch {
	case missingField.MatchString(detail):
		name := missingField.FindStringSubmatch(detail)[1]
		is.Code, is.Diagnostics = "required", "missing required element"
		if name == "resourceType" {
			is.Expression = strings.TrimSuffix(path+".resourceType", ".")
			return is, http.StatusBadRequest
		}
		is.Expression = path + "." + jsonName(name)
		return is, http.StatusUnprocessableEntity
	case strings.HasPrefix(detail, "invalid reference to a"):
		is.Code, is.Diagnostics = "value", "reference to a resource type this element does not allow"
		is.Expression = path + ".reference"
		return is, http.StatusUnprocessableEntity
	case detail == "unknown resource type":
		// google appends the unknown type (a value) to the path; the walker
		// reports nested ones with their path, so this is the root's.
		is.Code, is.Diagnostics = "not-supported", "not a FHIR R4 resource type"
		is.Expression = "resourceType"
		return is, http.StatusBadRequest
	case detail == "unknown field":
		is.Code, is.Diagnostics = "structure", "unknown element"
	case multipleValues.MatchString(detail):
		is.Code, is.Diagnostics = "structure", "more than one type given for a choice element"
		is.Expression = path + "." + jsonName(multipleValues.FindStringSubmatch(detail)[1]) + "[x]"
	case detail == "code type mismatch", detail == "expected code":
		is.Code, is.Diagnostics = "value", "code not in the required value set"
	case detail == "expected date", detail == "expected datetime", detail == "expected instant", detail == "invalid time",
		detail == "expected ID", detail == "invalid Id format", detail == "expected OID", detail == "expected UUID",
		strings.HasPrefix(detail, "invalid positive integer"), strings.HasPrefix(detail, "invalid non-negative"),
		strings.Contains(detail, "out of range"):
		is.Code, is.Diagnostics = "value", strings.ReplaceAll(detail, "datetime", "dateTime")
	case strings.HasPrefix(detail, "expected "), strings.HasPrefix(detail, "array length mismatch"):
		is.Code, is.Diagnostics = "structure", "wrong JSON type: "+detail
	case strings.HasPrefix(detail, "string contains invalid characters"):
		is.Code, is.Diagnostics = "value", "string contains characters FHIR does not allow"
	case detail == "invalid JSON":
		is.Code, is.Diagnostics = "structure", "invalid JSON"
	default:
		is.Code, is.Diagnostics = "invalid", "invalid element"
	}
	return is, http.StatusBadRequest
}

// normalizePath turns google's paths into FHIRPath: google names the type
// of a contained or Bundle entry resource as a path segment, as the type
// when parsing (Bundle.entry[0].resource.Patient.birthDate) and as the
// ContainedResource field when validating (...resource.molecularSequence.x).
func normalizePath(p string) string {
	segs := strings.Split(p, ".")
	out := segs[:0]
	for i, s := range segs {
		if i > 0 && (segs[i-1] == "resource" || strings.HasPrefix(segs[i-1], "contained[")) &&
			(IsResourceType(s) || IsResourceType(upperFirst(s))) {
			continue
		}
		out = append(out, s)
	}
	return strings.Join(out, ".")
}

func parentOf(p string) string {
	if i := strings.LastIndex(p, "."); i >= 0 {
		return p[:i]
	}
	return ""
}

// jsonName converts google's proto field names (snake_case) to FHIR's.
func jsonName(s string) string {
	parts := strings.Split(s, "_")
	for i := 1; i < len(parts); i++ {
		parts[i] = upperFirst(parts[i])
	}
	return strings.Join(parts, "")
}
