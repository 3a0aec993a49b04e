package validation

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/switchboard-health/switchboard/hub/outcome"
	"github.com/switchboard-health/switchboard/hub/testenv"
)

// FuzzResource: the validator never panics, every error is a 400 or 422
// OperationOutcome, and no error ever echoes a string value from the input.
// Expressions may only be built from FHIR R4's element names (an input key
// that is none is the sender's word and never repeated), indexes and
// resource types.
func FuzzResource(f *testing.F) {
	root := testenv.RepoRoot(f)
	for _, dir := range []string{"valid", "invalid"} {
		seeds, _ := filepath.Glob(filepath.Join(root, "testdata", "fhir", dir, "*.json"))
		for _, s := range seeds {
			if b, err := os.ReadFile(s); err == nil {
				f.Add(b)
			}
		}
	}
	for _, s := range []string{
		`{"resourceType":"Patient","name":[{"family":"Zzsecret"}],"birthDate":"Zzsecret"}`,
		`{"resourceType":"Patient","gender":"Zzsecret","id":"Zzsecret"}`,
		`{"resourceType":"Zzsecret"}`, `[`, `{"resourceType":"Bundle","type":"batch"}`,
		`{"resourceType":"Patient","managingOrganization":{"reference":"Organization/Zz secret"}}`,
		`{"resourceType":"Patient","Zz secret":"Zzsecret"}`,
		`{"resourceType":"Patient","Zzsecret":[],"name":[{"Zzsecret":null,"family":"  "}]}`,
		`{"resourceType":"Patient","gender":null,"gender":"Zzsecret","name":[{"given":["a",null],"_given":[null,null]}]}`,
		`{"resourceType":"Patient","name":[{"family":"Zz\udc00secret"}],"_birthDate":{"extension":[]}}`,
		`{"resourceType":"Bundle","type":"batch","entry":[{"resource":{"resourceType":"Patient","id":"Zzsecret"},"request":{"method":"PUT","url":"Patient/Zzother"}}]}`,
	} {
		f.Add([]byte(s))
	}
	v, err := New()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		_, err := v.Resource(body, "")
		checkOutcome(t, body, err)
		_, err = v.Bundle(body)
		checkOutcome(t, body, err)
	})
}

var indexes = regexp.MustCompile(`\[(\d+|x)\]`)

func checkOutcome(t *testing.T, body []byte, err error) {
	t.Helper()
	if err == nil {
		return
	}
	var oe *outcome.Error
	if !errors.As(err, &oe) || (oe.Status != 400 && oe.Status != 422) || len(oe.Issues) == 0 {
		t.Fatalf("want a 400/422 outcome with issues, got %v", err)
	}
	_, values := keysAndValues(body)
	text := oe.Error() + string(oe.OperationOutcome())
	for _, is := range oe.Issues {
		for _, seg := range strings.Split(indexes.ReplaceAllString(is.Expression, ""), ".") {
			if seg != "" && !IsResourceType(seg) && !elementNames()[strings.TrimPrefix(seg, "_")] && seg != "[x]" {
				t.Fatalf("expression %q holds %q, not an R4 element name (%v)", is.Expression, seg, oe)
			}
		}
		text = strings.ReplaceAll(text, is.Expression, "")
	}
	for _, s := range values {
		if len(s) > 3 && strings.Contains(text, s) && !strings.Contains(ownWords, s) {
			t.Fatalf("the error echoes an input value %q: %s", s, text)
		}
	}
}

// ownWords are the words of our own diagnostics and OperationOutcome keys,
// which an input value may happen to contain.
const ownWords = `resourceType OperationOutcome unknown element (this element holds a key FHIR R4 does not define for its type)
null (FHIR JSON has no null values, except as a placeholder in a primitive array with a _name sibling)
empty array (FHIR JSON leaves an element out rather than sending it empty) empty object (an element needs a value or children, ele-1)
empty object (its members are all empty or null; an element needs a value or children, ele-1)
whitespace-only string (FHIR strings must hold non-whitespace content) unpaired UTF-16 surrogate escape in a string (an object key)
duplicate key another entry has the same fullUrl (bdl-7)
invalid JSON: missing required element not a FHIR R4 resource type structure value not-supported required error issue severity
code diagnostics expression status the resource type in the body differs from the one in the URL
empty string (FHIR strings must not be empty) malformed reference: want Type/id, an absolute URL, urn:uuid:, urn:oid: or #contained-id
reference to a resource type this element does not allow more than one type given for a choice element code not in the required value set
expected date expected dateTime expected instant invalid time expected ID invalid Id format expected OID expected UUID
invalid positive integer invalid non-negative integer out of range 0..2,147,483,647 wrong JSON type: expected array length mismatch
string contains characters FHIR does not allow invalid element the base endpoint takes a Bundle of type batch or transaction
only batch and transaction Bundles are accepted a batch or transaction entry needs request.method and request.url
only POST and PUT entries are accepted a POST or PUT entry needs a resource the url must be Type or Type/id (not a query, an operation or an absolute URL)
the entry's url names another resource type than its resource a PUT entry's url must be Type/id (conditional updates are not supported)
the resource id differs from the id in request.url unexpected end of JSON trailing data after the JSON value unexpected character
invalid literal expected an object key duplicate object key expected ':' after an object key expected ',' or '}' in an object
expected ',' or ']' in an array invalid escape in a string control character in a string unterminated string invalid number
nested too deeply invalid UTF-8 at line column the body must be a JSON object (a FHIR resource) expected boolean expected string
expected integer expected decimal expected code expected binary data expected positive integer status 400 422`

// elementNames holds every JSON element name of R4, from google's descriptors.
var elementNames = sync.OnceValue(func() map[string]bool {
	names := map[string]bool{}
	seen := map[protoreflect.FullName]bool{}
	var visit func(md protoreflect.MessageDescriptor)
	visit = func(md protoreflect.MessageDescriptor) {
		if md == nil || seen[md.FullName()] {
			return
		}
		seen[md.FullName()] = true
		for k, f := range keysOf(md) {
			names[k] = true
			if f.fd != nil {
				visit(f.fd.Message())
			}
			if f.choice != nil {
				visit(f.choice.Message())
			}
		}
	}
	for _, md := range resources() {
		visit(md)
	}
	return names
})

// keysAndValues lists the object keys and the string values in body.
func keysAndValues(body []byte) (map[string]bool, []string) {
	keys := map[string]bool{}
	var values []string
	var v any
	if json.Unmarshal(body, &v) != nil {
		return keys, nil
	}
	var walk func(any)
	walk = func(x any) {
		switch t := x.(type) {
		case string:
			values = append(values, t)
		case []any:
			for _, e := range t {
				walk(e)
			}
		case map[string]any:
			for k, e := range t {
				keys[k] = true
				walk(e)
			}
		}
	}
	walk(v)
	return keys, values
}
