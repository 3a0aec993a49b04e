package validation

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/switchboard-health/switchboard/hub/outcome"
	"github.com/switchboard-health/switchboard/hub/testenv"
)

func mustValidator(t testing.TB) *Validator {
	t.Helper()
	v, err := New()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func asOutcome(t *testing.T, err error) *outcome.Error {
	t.Helper()
	var oe *outcome.Error
	if !errors.As(err, &oe) {
		t.Fatalf("want an *outcome.Error, got %v", err)
	}
	if len(oe.Issues) == 0 {
		t.Fatalf("an outcome without issues: %v", oe)
	}
	return oe
}

func expressions(oe *outcome.Error) []string {
	out := make([]string, len(oe.Issues))
	for i, is := range oe.Issues {
		out[i] = is.Expression
	}
	return out
}

func readSample(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "testdata", "fhir", rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestResourceErrors covers each row of the status/expression table in the
// package documentation. exprs, when given, is the full list of issue
// expressions in order; otherwise only the first issue is checked.
func TestResourceErrors(t *testing.T) {
	v := mustValidator(t)
	cases := []struct {
		name, want string
		body, file string
		status     int
		code, expr string
		exprs      []string
		diag       string // a substring the first issue's diagnostics must hold
	}{
		// Not JSON / not an object.
		{name: "not JSON", body: `hello`, status: 400, code: "structure", diag: "line 1, column 1"},
		{name: "truncated JSON", file: "invalid/truncated.json", status: 400, code: "structure", diag: "line 4, column 28"},
		{name: "JSON that is not an object", body: `[{"resourceType":"Patient"}]`, status: 400, code: "structure"},
		{name: "a JSON string", body: `"Patient"`, status: 400, code: "structure"},
		{name: "trailing data", body: `{"resourceType":"Patient"} {}`, status: 400, code: "structure", diag: "column 28"},
		{name: "duplicate key", body: "{\"resourceType\":\"Patient\",\n \"active\":true, \"active\":false}", status: 400, code: "structure", expr: "Patient.active", diag: "duplicate key at line 2, column 17"},
		{name: "duplicate key named by path", body: `{"resourceType":"Patient","gender":"male","birthDate":"2000","gender":"female"}`, status: 400, code: "structure", expr: "Patient.gender", diag: "duplicate key"},
		{name: "duplicate key in a nested object", body: `{"resourceType":"Patient","name":[{"family":"a"},{"family":"b","family":"c"}]}`, status: 400, code: "structure", expr: "Patient.name[1].family", diag: "duplicate key"},
		{name: "duplicate resourceType", body: `{"resourceType":"Patient","resourceType":"Patient"}`, status: 400, code: "structure", expr: "Patient.resourceType", diag: "duplicate key"},
		{name: "duplicate unknown key names the parent", body: `{"resourceType":"Patient","name":[{"Sam":1,"Sam":2}]}`, status: 400, code: "structure", exprs: []string{"Patient.name[0]", "Patient.name[0]"}, diag: "duplicate key"},
		{name: "invalid UTF-8", body: "{\"resourceType\":\"Patient\",\"name\":[{\"family\":\"\xff\"}]}", status: 400, code: "structure"},
		{name: "empty body", body: ``, status: 400, code: "structure"},

		// resourceType.
		{name: "missing resourceType", body: `{"name":[{"family":"x"}]}`, status: 400, code: "required", expr: "resourceType"},
		{name: "unknown resourceType", body: `{"resourceType":"Patinet"}`, status: 400, code: "not-supported", expr: "resourceType"},
		{name: "resourceType not a string", body: `{"resourceType":5}`, status: 400, code: "not-supported", expr: "resourceType"},
		{name: "unknown contained resourceType", body: `{"resourceType":"Patient","contained":[{"resourceType":"Pa.tient","id":"x"}]}`, status: 400, code: "not-supported", expr: "Patient.contained[0].resourceType"},
		{name: "resourceType differs from wantType", want: "Patient", body: `{"resourceType":"Observation"}`, status: 400, code: "invalid", expr: "Patient.resourceType"},

		// Unknown elements, named.
		// Unknown elements, at their parent: the key is the sender's and is
		// never repeated (one issue per parent).
		{name: "unknown top-level element", want: "Patient", body: `{"resourceType":"Patient","ECHOMARKQZX":1}`, status: 400, code: "structure", expr: "Patient", diag: "unknown element"},
		{name: "unknown nested element", body: `{"resourceType":"Patient","name":[{"bogus":"x"}]}`, status: 400, code: "structure", expr: "Patient.name[0]", diag: "unknown element"},
		{name: "all unknown elements listed", file: "invalid/unknown-elements.json", status: 400, code: "structure", exprs: []string{"Patient", "Patient.name[0]"}},
		{name: "one issue per parent", body: `{"resourceType":"Patient","foo":1,"bar":2}`, status: 400, code: "structure", exprs: []string{"Patient"}},
		{name: "unknown element in contained", body: `{"resourceType":"Patient","contained":[{"resourceType":"Organization","id":"o","zz":1}]}`, status: 400, code: "structure", expr: "Patient.contained[0]"},
		{name: "unknown element in an extension", body: `{"resourceType":"Patient","extension":[{"url":"http://x.org/e","valueFoo":1}]}`, status: 400, code: "structure", expr: "Patient.extension[0]"},
		{name: "unknown choice type", body: `{"resourceType":"Observation","status":"final","code":{"text":"w"},"valueFoo":"x"}`, status: 400, code: "structure", expr: "Observation"},
		{name: "unknown primitive extension sibling", body: `{"resourceType":"Patient","_nope":{"id":"n"}}`, status: 400, code: "structure", expr: "Patient"},
		{name: "extension sibling of a complex element", body: `{"resourceType":"Patient","_name":[{"id":"x"}]}`, status: 400, code: "structure", expr: "Patient"},
		{name: "unknown element in a primitive's extension sibling", body: `{"resourceType":"Patient","_birthDate":{"zz":1},"birthDate":"2000"}`, status: 400, code: "structure", expr: "Patient._birthDate"},
		{name: "unknown element in a primitive array's extension sibling", body: `{"resourceType":"Patient","name":[{"given":["a"],"_given":[{"zz":1}]}]}`, status: 400, code: "structure", expr: "Patient.name[0]._given[0]"},
		{name: "a key that is no element name is not echoed", body: `{"resourceType":"Patient","Sam Example 1970":1}`, status: 400, code: "structure", expr: "Patient"},

		// Wrong JSON types.
		{name: "string for boolean", body: `{"resourceType":"Patient","active":"yes"}`, status: 400, code: "structure", expr: "Patient.active"},
		{name: "object where an array belongs", body: `{"resourceType":"Patient","name":{"family":"x"}}`, status: 400, code: "structure", expr: "Patient.name"},
		{name: "string where an array of objects belongs", body: `{"resourceType":"Patient","name":"x"}`, status: 400, code: "structure", expr: "Patient.name"},
		{name: "number for string", body: `{"resourceType":"Patient","name":[{"given":["a",1]}]}`, status: 400, code: "structure", expr: "Patient.name[0].given[1]"},
		{name: "null", body: `{"resourceType":"Patient","active":null}`, status: 400, code: "structure", expr: "Patient.active", diag: "null"},
		{name: "two choice values", body: `{"resourceType":"Patient","deceasedBoolean":true,"deceasedDateTime":"2020"}`, status: 400, code: "structure", expr: "Patient.deceased[x]"},

		// Dates and other primitive formats.
		{name: "bad month and day", file: "invalid/bad-birthdate.json", status: 400, code: "value", expr: "Patient.birthDate"},
		{name: "impossible day", body: `{"resourceType":"Patient","birthDate":"2020-02-30"}`, status: 400, code: "value", expr: "Patient.birthDate"},
		{name: "bad dateTime", body: `{"resourceType":"Patient","deceasedDateTime":"2020-02-30T10:00:00Z"}`, status: 400, code: "value", expr: "Patient.deceasedDateTime"},
		{name: "instant without time", body: `{"resourceType":"Observation","status":"final","code":{"text":"w"},"issued":"2020-01-01"}`, status: 400, code: "value", expr: "Observation.issued"},
		{name: "bad id", body: `{"resourceType":"Patient","id":"a b"}`, status: 400, code: "value", expr: "Patient.id"},
		{name: "control character", body: `{"resourceType":"Patient","name":[{"family":"x\u0000"}]}`, status: 400, code: "value", expr: "Patient.name[0].family"},

		// Codes in required bindings.
		{name: "bad code", body: `{"resourceType":"Patient","gender":"mal"}`, status: 400, code: "value", expr: "Patient.gender"},

		// Empty strings.
		{name: "empty string", body: `{"resourceType":"Patient","name":[{"family":""}]}`, status: 400, code: "value", expr: "Patient.name[0].family"},
		{name: "all empty strings listed", file: "invalid/empty-strings.json", status: 400, code: "value",
			exprs: []string{"Patient.name[0].family", "Patient.name[0].given[1]", "Patient.telecom[0].value"}},
		{name: "empty string in an extension", body: `{"resourceType":"Patient","extension":[{"url":"http://x.org/e","valueString":""}]}`, status: 400, code: "value", expr: "Patient.extension[0].valueString"},
		{name: "empty id", body: `{"resourceType":"Patient","id":""}`, status: 400, code: "value", expr: "Patient.id"},
		{name: "empty string in a primitive's extension sibling", body: `{"resourceType":"Patient","birthDate":"2000","_birthDate":{"id":""}}`, status: 400, code: "value", expr: "Patient._birthDate.id"},
		{name: "empty reference", body: `{"resourceType":"Patient","managingOrganization":{"reference":""}}`, status: 400, code: "value", expr: "Patient.managingOrganization.reference", exprs: []string{"Patient.managingOrganization.reference"}},

		// Whitespace-only strings (FHIR strings hold non-whitespace content).
		{name: "whitespace-only string", body: `{"resourceType":"Patient","name":[{"family":"   "}]}`, status: 400, code: "value", expr: "Patient.name[0].family", diag: "whitespace-only"},
		{name: "tabs and newlines only", body: `{"resourceType":"Patient","name":[{"given":["A","\t\n "]}]}`, status: 400, code: "value", expr: "Patient.name[0].given[1]", diag: "whitespace-only"},
		{name: "whitespace-only code", body: `{"resourceType":"Patient","gender":" "}`, status: 400, code: "value", expr: "Patient.gender", diag: "whitespace-only"},
		{name: "whitespace-only extension url", body: `{"resourceType":"Patient","extension":[{"url":" ","valueString":"x"}]}`, status: 400, code: "value", expr: "Patient.extension[0].url"},

		// Empty arrays and objects (ele-1: an element has a value or children).
		{name: "empty array", body: `{"resourceType":"Patient","name":[]}`, status: 400, code: "structure", expr: "Patient.name", diag: "empty array"},
		{name: "empty object in an array", body: `{"resourceType":"Patient","name":[{}]}`, status: 400, code: "structure", expr: "Patient.name[0]", diag: "empty object"},
		{name: "empty address", body: `{"resourceType":"Patient","address":[{"city":"X"},{}]}`, status: 400, code: "structure", expr: "Patient.address[1]", diag: "empty object"},
		{name: "empty object", body: `{"resourceType":"Patient","maritalStatus":{}}`, status: 400, code: "structure", expr: "Patient.maritalStatus", diag: "empty object"},
		{name: "empty extension array in a primitive's sibling", body: `{"resourceType":"Patient","birthDate":"2000","_birthDate":{"extension":[]}}`, status: 400, code: "structure",
			exprs: []string{"Patient._birthDate.extension", "Patient._birthDate"}, diag: "empty array"},
		{name: "an object of empty members is empty", body: `{"resourceType":"Patient","maritalStatus":{"coding":[{}],"text":null}}`, status: 400, code: "structure",
			exprs: []string{"Patient.maritalStatus.coding[0]", "Patient.maritalStatus.text", "Patient.maritalStatus"}},
		{name: "an object of null members is empty", body: `{"resourceType":"Patient","name":[{"family":null}]}`, status: 400, code: "structure",
			exprs: []string{"Patient.name[0].family", "Patient.name[0]"}, diag: "null"},
		{name: "empty primitive's sibling", body: `{"resourceType":"Patient","birthDate":"2000","_birthDate":{}}`, status: 400, code: "structure", expr: "Patient._birthDate", diag: "empty object"},
		{name: "empty contained resource", body: `{"resourceType":"Patient","contained":[{}]}`, status: 400, code: "structure", expr: "Patient.contained[0]", diag: "empty object"},
		{name: "empty array in contained", body: `{"resourceType":"Patient","contained":[{"resourceType":"Organization","id":"o","alias":[]}]}`, status: 400, code: "structure", expr: "Patient.contained[0].alias"},
		{name: "every empty listed in document order", body: `{"resourceType":"Patient","telecom":[],"name":[{"given":[]}],"address":[{}]}`, status: 400, code: "structure",
			exprs: []string{"Patient.telecom", "Patient.name[0].given", "Patient.name[0]", "Patient.address[0]"}},
		{name: "empty array under an unknown key names the parent", body: `{"resourceType":"Patient","Sam Example":[]}`, status: 400, code: "structure", exprs: []string{"Patient", "Patient"}},

		// null (FHIR JSON has none, but for primitive array placeholders).
		{name: "null code is a null, not a bad code", body: `{"resourceType":"Patient","gender":null}`, status: 400, code: "structure", expr: "Patient.gender", exprs: []string{"Patient.gender"}, diag: "null"},
		{name: "null in an object array", body: `{"resourceType":"Patient","name":[null]}`, status: 400, code: "structure", expr: "Patient.name[0]", diag: "null"},
		{name: "null in a primitive array without a sibling", body: `{"resourceType":"Patient","name":[{"given":["a",null]}]}`, status: 400, code: "structure", expr: "Patient.name[0].given[1]", diag: "null"},
		{name: "null paired with null", body: `{"resourceType":"Patient","name":[{"given":["a",null],"_given":[null,null]}]}`, status: 400, code: "structure",
			exprs: []string{"Patient.name[0].given[1]", "Patient.name[0]._given[1]"}},
		{name: "null placeholder beyond the sibling's length", body: `{"resourceType":"Patient","name":[{"given":["a",null],"_given":[{"id":"g"}]}]}`, status: 400, code: "structure", expr: "Patient.name[0].given[1]"},
		{name: "null in an extension sibling without a value", body: `{"resourceType":"Patient","birthDate":"2000","_birthDate":null}`, status: 400, code: "structure", expr: "Patient._birthDate", diag: "null"},
		{name: "null in an extension", body: `{"resourceType":"Patient","extension":[{"url":"http://x.org/e","valueString":null}]}`, status: 400, code: "structure", expr: "Patient.extension[0].valueString"},
		{name: "null resource in contained", body: `{"resourceType":"Patient","contained":[null]}`, status: 400, code: "structure", expr: "Patient.contained[0]"},

		// Unpaired surrogates (no UTF-8 destination can store them).
		{name: "lone low surrogate", body: `{"resourceType":"Patient","name":[{"family":"a\udc00"}]}`, status: 400, code: "value", expr: "Patient.name[0].family", diag: "surrogate"},
		{name: "lone high surrogate at the end", body: `{"resourceType":"Patient","name":[{"family":"a\uD800"}]}`, status: 400, code: "value", expr: "Patient.name[0].family", diag: "surrogate"},
		{name: "high surrogate before a letter", body: `{"resourceType":"Patient","name":[{"given":["ok","\ud83d\u0041"]}]}`, status: 400, code: "value", expr: "Patient.name[0].given[1]", diag: "surrogate"},
		{name: "two high surrogates", body: `{"resourceType":"Patient","name":[{"family":"\ud83d\ud83d"}]}`, status: 400, code: "value", expr: "Patient.name[0].family", diag: "surrogate"},
		{name: "surrogate in a key", body: `{"resourceType":"Patient","\udc00":1}`, status: 400, code: "structure", expr: "Patient", diag: "surrogate"},

		// Missing required elements (google, 422).
		{name: "missing nested required", file: "invalid/link-without-other.json", status: 422, code: "required", expr: "Patient.link[0].other"},
		{name: "missing top-level required", file: "invalid/appointment-without-status.json", status: 422, code: "required", expr: "Appointment.status"},
		{name: "missing required in the second item", body: `{"resourceType":"Patient","communication":[{"language":{"text":"x"}},{"preferred":true}]}`, status: 422, code: "required", expr: "Patient.communication[1].language"},
		{name: "contained without resourceType", body: `{"resourceType":"Patient","contained":[{"id":"x"}]}`, status: 400, code: "required", expr: "Patient.contained[0].resourceType"},

		// References.
		{name: "reference without id", body: `{"resourceType":"Patient","managingOrganization":{"reference":"Organization/"}}`, status: 422, code: "value", expr: "Patient.managingOrganization.reference"},
		{name: "reference with a space", body: `{"resourceType":"Patient","managingOrganization":{"reference":"Organization/a b"}}`, status: 422, code: "value", expr: "Patient.managingOrganization.reference"},
		{name: "reference to no resource type", body: `{"resourceType":"Patient","generalPractitioner":[{"reference":"Doctor/1"}]}`, status: 422, code: "value", expr: "Patient.generalPractitioner[0].reference"},
		{name: "malformed absolute reference", body: `{"resourceType":"Patient","managingOrganization":{"reference":"http://ehr example/Organization/1"}}`, status: 422, code: "value", expr: "Patient.managingOrganization.reference"},
		{name: "malformed urn:uuid", body: `{"resourceType":"Patient","managingOrganization":{"reference":"urn:uuid:1234"}}`, status: 422, code: "value", expr: "Patient.managingOrganization.reference"},
		{name: "reference to a wrong target type", body: `{"resourceType":"Patient","managingOrganization":{"reference":"Patient/123"}}`, status: 422, code: "value", expr: "Patient.managingOrganization.reference"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			body := c.body
			if c.file != "" {
				body = readSample(t, c.file)
			}
			_, err := v.Resource([]byte(body), c.want)
			oe := asOutcome(t, err)
			if oe.Status != c.status {
				t.Errorf("status %d, want %d (%v)", oe.Status, c.status, oe)
			}
			first := oe.Issues[0]
			want := c.expr
			if c.exprs != nil {
				want = c.exprs[0]
				if got := expressions(oe); !slices.Equal(got, c.exprs) {
					t.Errorf("expressions %q, want %q", got, c.exprs)
				}
			}
			if first.Code != c.code || first.Expression != want {
				t.Errorf("first issue %s at %q, want %s at %q (%v)", first.Code, first.Expression, c.code, want, oe)
			}
			if first.Severity != "error" {
				t.Errorf("severity %q", first.Severity)
			}
			if !strings.Contains(first.Diagnostics, c.diag) {
				t.Errorf("diagnostics %q, want them to hold %q", first.Diagnostics, c.diag)
			}
		})
	}
}

func TestValidResources(t *testing.T) {
	v := mustValidator(t)
	for _, body := range []string{
		`{"resourceType":"Patient","id":"p1","_birthDate":{"extension":[{"url":"http://example.org/x","valueString":"y"}]},"birthDate":"2020-01-01",
		  "name":[{"family":"F","given":["A","B"],"_given":[{"id":"g1"},{"id":"g2"}]}],"managingOrganization":{"reference":"#org"},
		  "contained":[{"resourceType":"Organization","id":"org","name":"O"}],"deceasedBoolean":false,
		  "generalPractitioner":[{"reference":"https://ehr.example/fhir/Practitioner/123"},{"reference":"urn:uuid:0f6d8d1e-1b3a-4c5e-8f9a-0a1b2c3d4e5f"},
		    {"reference":"Practitioner/p-2/_history/3"},{"reference":"urn:oid:1.2.36.1"}]}`,
		`{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"29463-7"}]},"valueQuantity":{"value":72.50,"unit":"kg"},"subject":{"reference":"Patient/p1"},"effectiveDateTime":"2026-01-02T03:04:05.123+01:00"}`,
		`{"resourceType":"Patient","name":[{"family":"M\u00fcller \"Jr\""}]}`,
		// null as a placeholder in a primitive array paired with its _name
		// sibling, both ways round.
		`{"resourceType":"Patient","name":[{"given":["a",null,"c"],"_given":[null,{"extension":[{"url":"http://x.org/e","valueString":"v"}]},{"id":"g3"}]}]}`,
		// A surrogate pair, an escaped backslash before "u", leading and
		// trailing spaces around content.
		`{"resourceType":"Patient","name":[{"family":"\ud83d\ude00 \\udc00","given":[" Sam "]}]}`,
	} {
		r, err := v.Resource([]byte(body), "")
		if err != nil {
			t.Fatalf("valid resource refused: %v", err)
		}
		if string(r.Raw) != body {
			t.Fatal("Raw must be the original bytes")
		}
	}
	r, err := v.Resource([]byte(readSample(t, "valid/patient-full.json")), "Patient")
	if err != nil || r.Type != "Patient" || r.ID != "sb-patient-1" {
		t.Fatalf("got %+v, %v", r, err)
	}
}

// TestNothingFromTheBodyIsEchoed: the README promises that no error repeats
// anything from the body. Unknown keys are the sender's words too: the
// issue names their parent.
func TestNothingFromTheBodyIsEchoed(t *testing.T) {
	v := mustValidator(t)
	for _, body := range []string{
		`{"resourceType":"Patient","ECHOMARKQZX":1}`,
		`{"resourceType":"Patient","name":[{"ECHOMARKQZX":"x"}]}`,
		`{"resourceType":"Patient","ECHOMARKQZX":[],"ECHOMARKQZX":null}`,
		`{"resourceType":"Patient","_ECHOMARKQZX":{"id":"x"}}`,
		`{"resourceType":"Patient","ECHOMARKQZX":{"family":"   "}}`,
		`{"resourceType":"Patient","ECHOMARKQZX\udc00":1}`,
		`{"resourceType":"Patient","name":[{"family":"ECHOMARKQZX\udc00"}]}`,
		`{"resourceType":"Patient","gender":"ECHOMARKQZX"}`,
		`{"resourceType":"Patient","contained":[{"resourceType":"Organization","ECHOMARKQZX":{}}]}`,
		`{"resourceType":"Bundle","type":"transaction","entry":[{"fullUrl":"urn:ECHOMARKQZX","resource":{"resourceType":"Patient"},"request":{"method":"POST","url":"Patient"}},` +
			`{"fullUrl":"urn:ECHOMARKQZX","resource":{"resourceType":"Patient"},"request":{"method":"POST","url":"Patient"}}]}`,
	} {
		_, err := v.Resource([]byte(body), "")
		if err == nil {
			_, err = v.Bundle([]byte(body))
		}
		oe := asOutcome(t, err)
		if text := oe.Error() + string(oe.OperationOutcome()); strings.Contains(text, "ECHOMARKQZX") {
			t.Errorf("%s: the error echoes the body: %s", body, text)
		}
	}
}

func TestIsResourceType(t *testing.T) {
	for _, name := range []string{"Patient", "Appointment", "Bundle", "OperationOutcome", "MolecularSequence"} {
		if !IsResourceType(name) {
			t.Errorf("%s is an R4 resource type", name)
		}
	}
	for _, name := range []string{"", "patient", "Patinet", "HumanName", "Reference", "ContainedResource"} {
		if IsResourceType(name) {
			t.Errorf("%q is not an R4 resource type", name)
		}
	}
	if n := len(resources()); n != 146 {
		t.Errorf("%d resource types, R4 has 146", n)
	}
}

func TestBundle(t *testing.T) {
	v := mustValidator(t)
	body := readSample(t, "valid/bundle-transaction.json")
	b, err := v.Bundle([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if b.Type != "transaction" || len(b.Entries) != 3 {
		t.Fatalf("%+v", b)
	}
	e0, e2 := b.Entries[0], b.Entries[2]
	if e0.FullURL != "urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a" || e0.Method != "POST" || e0.URL != "Patient" ||
		e0.IfNoneExist != "identifier=https://clinic.example/mrn|MRN-0002" || e0.Resource.Type != "Patient" {
		t.Errorf("entry 0: %+v", e0)
	}
	if e2.Method != "PUT" || e2.URL != "Practitioner/pr-1" || e2.Resource.ID != "pr-1" {
		t.Errorf("entry 2: %+v", e2)
	}
	// bdl-7: one fullUrl for two versions of a resource is valid in a batch.
	versions := `{"resourceType":"Bundle","type":"batch","entry":[` +
		`{"fullUrl":"https://ehr.example/fhir/Patient/a","resource":{"resourceType":"Patient","id":"a","meta":{"versionId":"1"}},"request":{"method":"PUT","url":"Patient/a"}},` +
		`{"fullUrl":"https://ehr.example/fhir/Patient/a","resource":{"resourceType":"Patient","id":"a","meta":{"versionId":"2"}},"request":{"method":"PUT","url":"Patient/a"}}]}`
	if _, err := v.Bundle([]byte(versions)); err != nil {
		t.Errorf("a batch with two versions of one fullUrl: %v", err)
	}
	for i, e := range b.Entries {
		// Raw is a slice of the input as sent, whitespace and all.
		if raw := string(e.Resource.Raw); !strings.HasPrefix(raw, `{`) || !strings.HasSuffix(raw, `}`) || !strings.Contains(body, raw) {
			t.Errorf("entry %d: Raw is not the input's bytes: %s", i, e.Resource.Raw)
		}
	}
}

func TestBundleErrors(t *testing.T) {
	v := mustValidator(t)
	entry := func(resource, request string) string {
		return `{"resourceType":"Bundle","type":"batch","entry":[{"resource":` + resource + `,"request":` + request + `}]}`
	}
	patient := `{"resourceType":"Patient","id":"a"}`
	// twice is a Bundle of two entries with one fullUrl, their resources
	// with the meta.versionIds given ("" for none).
	twice := func(typ, v1, v2 string) string {
		res := func(v string) string {
			if v == `""` {
				return `{"resourceType":"Patient","active":true}`
			}
			return `{"resourceType":"Patient","meta":{"versionId":` + v + `}}`
		}
		e := func(v string) string {
			return `{"fullUrl":"urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a","resource":` + res(v) + `,"request":{"method":"POST","url":"Patient"}}`
		}
		return `{"resourceType":"Bundle","type":"` + typ + `","entry":[` + e(v1) + `,` + e(v2) + `]}`
	}
	cases := []struct {
		name, body string
		file       string
		status     int
		code, expr string
	}{
		{name: "not JSON", body: `{"resourceType":"Bundle",`, status: 400, code: "structure"},
		{name: "not a Bundle", body: `{"resourceType":"Patient"}`, status: 400, code: "invalid", expr: "Bundle.resourceType"},
		{name: "collection", body: `{"resourceType":"Bundle","type":"collection"}`, status: 422, code: "not-supported", expr: "Bundle.type"},
		{name: "no type", body: `{"resourceType":"Bundle"}`, status: 422, code: "not-supported", expr: "Bundle.type"},
		{name: "entry date", file: "invalid/bundle-entry-errors.json", status: 400, code: "value", expr: "Bundle.entry[2].resource.birthDate"},
		{name: "entry unknown element", body: entry(`{"resourceType":"Patient","zz":1}`, `{"method":"POST","url":"Patient"}`), status: 400, code: "structure", expr: "Bundle.entry[0].resource"},
		{name: "entry empty array", body: entry(`{"resourceType":"Patient","name":[]}`, `{"method":"POST","url":"Patient"}`), status: 400, code: "structure", expr: "Bundle.entry[0].resource.name"},
		{name: "entry empty object", body: entry(`{"resourceType":"Patient","address":[{}]}`, `{"method":"POST","url":"Patient"}`), status: 400, code: "structure", expr: "Bundle.entry[0].resource.address[0]"},
		{name: "entry null", body: entry(`{"resourceType":"Patient","gender":null}`, `{"method":"POST","url":"Patient"}`), status: 400, code: "structure", expr: "Bundle.entry[0].resource.gender"},
		{name: "entry whitespace", body: entry(`{"resourceType":"Patient","name":[{"family":"  "}]}`, `{"method":"POST","url":"Patient"}`), status: 400, code: "value", expr: "Bundle.entry[0].resource.name[0].family"},
		{name: "entry duplicate key", body: entry(`{"resourceType":"Patient","gender":"male","gender":"female"}`, `{"method":"POST","url":"Patient"}`), status: 400, code: "structure", expr: "Bundle.entry[0].resource.gender"},
		{name: "entry surrogate", body: entry(`{"resourceType":"Patient","name":[{"family":"\udc00"}]}`, `{"method":"POST","url":"Patient"}`), status: 400, code: "value", expr: "Bundle.entry[0].resource.name[0].family"},
		{name: "entry unknown key not echoed", body: entry(`{"resourceType":"Patient","ECHOMARKQZX":[]}`, `{"method":"POST","url":"Patient"}`), status: 400, code: "structure", expr: "Bundle.entry[0].resource"},
		{name: "request null", body: `{"resourceType":"Bundle","type":"batch","entry":[{"resource":` + patient + `,"request":null}]}`, status: 400, code: "structure", expr: "Bundle.entry[0].request"},
		{name: "transaction fullUrl twice", body: twice("transaction", `"1"`, `"2"`), status: 400, code: "invalid", expr: "Bundle.entry[1].fullUrl"},
		{name: "batch fullUrl twice", body: twice("batch", `""`, `""`), status: 400, code: "invalid", expr: "Bundle.entry[1].fullUrl"},
		{name: "batch fullUrl twice with one version", body: twice("batch", `"1"`, `"1"`), status: 400, code: "invalid", expr: "Bundle.entry[1].fullUrl"},
		{name: "entry empty string", body: entry(`{"resourceType":"Patient","name":[{"family":""}]}`, `{"method":"POST","url":"Patient"}`), status: 400, code: "value", expr: "Bundle.entry[0].resource.name[0].family"},
		{name: "entry missing required", body: entry(`{"resourceType":"Appointment","participant":[{"status":"accepted"}]}`, `{"method":"POST","url":"Appointment"}`), status: 422, code: "required", expr: "Bundle.entry[0].resource.status"},
		{name: "entry missing nested required", body: entry(`{"resourceType":"Encounter","status":"planned","class":{"code":"x"},"statusHistory":[{"period":{"start":"2020"}}]}`, `{"method":"POST","url":"Encounter"}`), status: 422, code: "required", expr: "Bundle.entry[0].resource.statusHistory[0].status"},
		{name: "entry wrong reference target", body: entry(`{"resourceType":"Patient","managingOrganization":{"reference":"Patient/1"}}`, `{"method":"POST","url":"Patient"}`), status: 422, code: "value", expr: "Bundle.entry[0].resource.managingOrganization.reference"},
		{name: "entry malformed reference", body: entry(`{"resourceType":"Patient","managingOrganization":{"reference":"Organization/"}}`, `{"method":"POST","url":"Patient"}`), status: 422, code: "value", expr: "Bundle.entry[0].resource.managingOrganization.reference"},
		{name: "entry with unknown resourceType", body: entry(`{"resourceType":"Patinet"}`, `{"method":"POST","url":"Patient"}`), status: 400, code: "not-supported", expr: "Bundle.entry[0].resource.resourceType"},
		{name: "entry without resourceType", body: entry(`{"id":"a"}`, `{"method":"POST","url":"Patient"}`), status: 400, code: "required", expr: "Bundle.entry[0].resource.resourceType"},
		{name: "no request", body: `{"resourceType":"Bundle","type":"batch","entry":[{"resource":` + patient + `}]}`, status: 422, code: "required", expr: "Bundle.entry[0].request"},
		{name: "no method", body: entry(patient, `{"url":"Patient"}`), status: 422, code: "required", expr: "Bundle.entry[0].request.method"},
		{name: "no url", body: entry(patient, `{"method":"POST"}`), status: 422, code: "required", expr: "Bundle.entry[0].request.url"},
		{name: "no resource", body: `{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"POST","url":"Patient"}}]}`, status: 422, code: "required", expr: "Bundle.entry[0].resource"},
		{name: "DELETE", body: `{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"DELETE","url":"Patient/b"}}]}`, status: 422, code: "not-supported", expr: "Bundle.entry[0].request.method"},
		{name: "url type mismatch", body: entry(patient, `{"method":"POST","url":"Observation"}`), status: 400, code: "invalid", expr: "Bundle.entry[0].request.url"},
		{name: "url with id", body: entry(patient, `{"method":"POST","url":"Observation/a"}`), status: 400, code: "invalid", expr: "Bundle.entry[0].request.url"},
		{name: "absolute url", body: entry(patient, `{"method":"PUT","url":"https://other.example/fhir/Patient/a"}`), status: 400, code: "invalid", expr: "Bundle.entry[0].request.url"},
		{name: "conditional update", body: entry(patient, `{"method":"PUT","url":"Patient?identifier=x"}`), status: 400, code: "invalid", expr: "Bundle.entry[0].request.url"},
		{name: "PUT without id", body: entry(patient, `{"method":"PUT","url":"Patient"}`), status: 400, code: "required", expr: "Bundle.entry[0].request.url"},
		{name: "PUT id mismatch", body: entry(patient, `{"method":"PUT","url":"Patient/b"}`), status: 400, code: "invalid", expr: "Bundle.entry[0].resource.id"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			body := c.body
			if c.file != "" {
				body = readSample(t, c.file)
			}
			_, err := v.Bundle([]byte(body))
			oe := asOutcome(t, err)
			first := oe.Issues[0]
			if oe.Status != c.status || first.Code != c.code || first.Expression != c.expr {
				t.Errorf("got %d %s at %q, want %d %s at %q (%v)", oe.Status, first.Code, first.Expression, c.status, c.code, c.expr, oe)
			}
		})
	}
}

// hl7Refusals are the HL7 R4 examples the hub refuses on purpose, with the
// status and first expression it answers: a wrong reference target in HL7's
// own example, and batch/transaction Bundles using what the hub does not
// accept (GET and DELETE entries, conditional updates, operations, absolute
// request urls).
var hl7Refusals = map[string]struct {
	bundle bool
	status int
	expr   string
}{
	"Observation-clinical-gender.json":         {false, 422, "Observation.performer[0].reference"},
	"Bundle-bundle-request-medsallergies.json": {true, 422, "Bundle.entry[0].request.method"},
	"Bundle-bundle-request-simplesummary.json": {true, 422, "Bundle.entry[0].request.method"},
	"Bundle-bundle-transaction.json":           {true, 400, "Bundle.entry[3].request.url"},
	"Bundle-ussg-fht.json":                     {true, 400, "Bundle.entry[0].request.url"},
}

// TestValidCorpus runs every HL7 R4 example (when ../shared/fhir-r4-examples
// is present beside the repository) and always the project's own samples in
// testdata/fhir/valid through Resource, and batch/transaction Bundles through
// Bundle too.
func TestValidCorpus(t *testing.T) {
	v := mustValidator(t)
	root := testenv.RepoRoot(t)
	hl7Dir := filepath.Join(root, "..", "shared", "fhir-r4-examples")
	hl7, _ := filepath.Glob(filepath.Join(hl7Dir, "*.json"))
	own, _ := filepath.Glob(filepath.Join(root, "testdata", "fhir", "valid", "*.json"))
	if len(own) < 4 {
		t.Fatalf("only %d project samples in testdata/fhir/valid", len(own))
	}
	resources, bundles, refused := 0, 0, 0
	for _, f := range append(hl7, own...) {
		name := filepath.Base(f)
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		refusal, isRefused := hl7Refusals[name]
		if !slices.Contains(own, f) && isRefused {
			refused++
			check := func(err error) {
				var oe *outcome.Error
				if !errors.As(err, &oe) || oe.Status != refusal.status || oe.Issues[0].Expression != refusal.expr {
					t.Errorf("%s: want refused with %d at %s, got %v", name, refusal.status, refusal.expr, err)
				}
			}
			if refusal.bundle {
				_, err := v.Resource(b, "")
				if err != nil {
					t.Errorf("%s: %v", name, err)
				}
				_, err = v.Bundle(b)
				check(err)
			} else {
				_, err := v.Resource(b, "")
				check(err)
			}
			continue
		}
		r, err := v.Resource(b, "")
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		resources++
		if string(r.Raw) != string(b) {
			t.Errorf("%s: Raw differs from the input", name)
		}
		if r.Type == "Bundle" && (strings.Contains(string(b), `"type": "batch"`) || strings.Contains(string(b), `"type": "transaction"`) ||
			strings.Contains(string(b), `"type":"batch"`) || strings.Contains(string(b), `"type":"transaction"`)) {
			if _, err := v.Bundle(b); err != nil {
				t.Errorf("%s as a Bundle: %v", name, err)
			}
			bundles++
		}
	}
	if len(hl7) == 0 {
		t.Logf("%s is absent: the HL7 examples were not run, only the project's", hl7Dir)
	}
	t.Logf("%d HL7 examples from %s, %d project samples: %d passed Resource, %d passed Bundle, %d refused as expected",
		len(hl7), hl7Dir, len(own), resources, bundles, refused)
	if len(hl7) > 0 && refused != len(hl7Refusals) {
		t.Errorf("%d of the %d expected refusals seen", refused, len(hl7Refusals))
	}
}

// BenchmarkResourcePatient validates HL7's Patient example with the
// google path (oracle) and the compiled one.
func BenchmarkResourcePatient(b *testing.B) {
	v := mustValidator(b)
	body := []byte(`{"resourceType":"Patient","id":"example","identifier":[{"use":"usual","system":"urn:oid:1.2.36.146.595.217.0.1","value":"12345"}],"active":true,"name":[{"use":"official","family":"Chalmers","given":["Peter","James"]}],"telecom":[{"system":"phone","value":"(03) 5555 6473","use":"work"}],"gender":"male","birthDate":"1974-12-25","address":[{"use":"home","line":["534 Erewhon St"],"city":"PleasantVille","state":"Vic","postalCode":"3999"}]}`)
	b.Run("oracle", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := v.resourceViaGoogle(body, "Patient"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("compiled", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := validateCompiled(body, "Patient"); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestStrictJSONAcceptsHL7Examples is the differential check of the strict
// JSON rules (parse.go): none of them may find fault with any of HL7's R4
// examples, which are valid FHIR JSON (nulls in them are placeholders).
// TestValidCorpus runs the same files through the whole validator.
func TestStrictJSONAcceptsHL7Examples(t *testing.T) {
	dir := filepath.Join(testenv.RepoRoot(t), "..", "shared", "fhir-r4-examples")
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		t.Skipf("%s is absent: 0 HL7 examples checked", dir)
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(files) < 231 {
		t.Fatalf("%d HL7 examples in %s, want the 231 of R4 (%v)", len(files), dir, err)
	}
	placeholders := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		_, sc, err := parse(b)
		if err != nil {
			t.Errorf("%s: %v", filepath.Base(f), err)
			continue
		}
		for _, is := range sc.issues {
			t.Errorf("%s: %s at %v", filepath.Base(f), is.diag, is.path)
		}
		placeholders += len(sc.placeholders)
	}
	t.Logf("%d HL7 examples checked, %d null placeholders among them", len(files), placeholders)
}
