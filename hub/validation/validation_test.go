package validation

import (
	"errors"
	"os"
	"path/filepath"
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

func TestResourceErrors(t *testing.T) {
	v := mustValidator(t)
	cases := []struct {
		name, want, body string
		status           int
		code, expr       string
	}{
		{"truncated JSON", "", `{"resourceType":"Patient",`, 400, "structure", ""},
		{"not an object", "", `[1]`, 400, "structure", ""},
		{"trailing garbage", "", `{"resourceType":"Patient"} x`, 400, "structure", ""},
		{"missing resourceType", "", `{"name":[{"family":"x"}]}`, 400, "required", "resourceType"},
		{"unknown resourceType", "", `{"resourceType":"Patinet"}`, 400, "not-supported", "resourceType"},
		{"type differs from want", "Patient", `{"resourceType":"Observation"}`, 400, "invalid", "Patient.resourceType"},
		{"unknown element", "Patient", `{"resourceType":"Patient","foo":1}`, 400, "structure", "Patient.foo"},
		{"unknown nested element", "Patient", `{"resourceType":"Patient","name":[{"bogus":"x"}]}`, 400, "structure", "Patient.name[0].bogus"},
		{"unknown element in contained", "Patient", `{"resourceType":"Patient","contained":[{"resourceType":"Organization","id":"o","zz":1}]}`, 400, "structure", "Patient.contained[0].zz"},
		{"unknown primitive extension sibling", "Patient", `{"resourceType":"Patient","_nope":{"extension":[]}}`, 400, "structure", "Patient._nope"},
		{"wrong type boolean", "Patient", `{"resourceType":"Patient","active":"yes"}`, 400, "structure", "Patient.active"},
		{"object where array", "Patient", `{"resourceType":"Patient","name":{"family":"x"}}`, 400, "structure", "Patient.name"},
		{"number for string", "Patient", `{"resourceType":"Patient","name":[{"given":["a",1]}]}`, 400, "structure", "Patient.name[0].given[1]"},
		{"bad month", "Patient", `{"resourceType":"Patient","birthDate":"1970-13-45"}`, 400, "value", "Patient.birthDate"},
		{"impossible day", "Patient", `{"resourceType":"Patient","birthDate":"2020-02-30"}`, 400, "value", "Patient.birthDate"},
		{"bad code", "Patient", `{"resourceType":"Patient","gender":"mal"}`, 400, "value", "Patient.gender"},
		{"empty string", "Patient", `{"resourceType":"Patient","name":[{"family":""}]}`, 400, "value", "Patient.name[0].family"},
		{"bad id", "Patient", `{"resourceType":"Patient","id":"a b"}`, 400, "value", "Patient.id"},
		{"two choice values", "Patient", `{"resourceType":"Patient","deceasedBoolean":true,"deceasedDateTime":"2020"}`, 400, "structure", "Patient.deceased[x]"},
		{"missing required nested", "Patient", `{"resourceType":"Patient","link":[{"type":"seealso"}]}`, 422, "required", "Patient.link[0].other"},
		{"missing required top", "Appointment", `{"resourceType":"Appointment","participant":[{"status":"accepted"}]}`, 422, "required", "Appointment.status"},
		{"malformed reference", "Patient", `{"resourceType":"Patient","managingOrganization":{"reference":"Organization/"}}`, 422, "value", "Patient.managingOrganization.reference"},
		{"reference with a space", "Patient", `{"resourceType":"Patient","managingOrganization":{"reference":"Organization/a b"}}`, 422, "value", "Patient.managingOrganization.reference"},
		{"reference to the wrong type", "Patient", `{"resourceType":"Patient","managingOrganization":{"reference":"Patient/123"}}`, 422, "value", "Patient.managingOrganization.reference"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := v.Resource([]byte(c.body), c.want)
			var oe *outcome.Error
			if !errors.As(err, &oe) {
				t.Fatalf("want *outcome.Error, got %v", err)
			}
			if oe.Status != c.status {
				t.Errorf("status %d, want %d (%v)", oe.Status, c.status, oe)
			}
			first := oe.Issues[0]
			if first.Code != c.code || first.Expression != c.expr {
				t.Errorf("issue %s at %q, want %s at %q (%v)", first.Code, first.Expression, c.code, c.expr, oe)
			}
		})
	}
}

func TestSeveralProblemsAreListed(t *testing.T) {
	_, err := mustValidator(t).Resource([]byte(`{"resourceType":"Patient","foo":1,"name":[{"family":"","bar":2}]}`), "Patient")
	var oe *outcome.Error
	if !errors.As(err, &oe) || len(oe.Issues) != 3 {
		t.Fatalf("want three issues, got %v", err)
	}
}

func TestValidResourcesPass(t *testing.T) {
	v := mustValidator(t)
	for _, body := range []string{
		`{"resourceType":"Patient","id":"p1","_birthDate":{"extension":[{"url":"http://example.org/x","valueString":"y"}]},"birthDate":"2020-01-01",
		  "name":[{"family":"F","given":["A","B"],"_given":[{"id":"g1"},{"id":"g2"}]}],"managingOrganization":{"reference":"#org"},
		  "contained":[{"resourceType":"Organization","id":"org","name":"O"}],"deceasedBoolean":false,
		  "generalPractitioner":[{"reference":"https://ehr.example/fhir/Practitioner/123"},{"reference":"urn:uuid:0f6d8d1e-1b3a-4c5e-8f9a-0a1b2c3d4e5f"}]}`,
		`{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"29463-7"}]},"valueQuantity":{"value":72.50,"unit":"kg"},"subject":{"reference":"Patient/p1"}}`,
	} {
		r, err := v.Resource([]byte(body), "")
		if err != nil {
			t.Fatalf("valid resource refused: %v", err)
		}
		if string(r.Raw) != body {
			t.Fatal("Raw must be the original bytes")
		}
	}
}

func TestBundle(t *testing.T) {
	v := mustValidator(t)
	b, err := v.Bundle([]byte(`{"resourceType":"Bundle","type":"transaction","entry":[
	  {"fullUrl":"urn:uuid:0f6d8d1e-1b3a-4c5e-8f9a-0a1b2c3d4e5f","resource":{"resourceType":"Patient","name":[{"family":"F"}]},"request":{"method":"POST","url":"Patient","ifNoneExist":"identifier=x|1"}},
	  {"resource":{"resourceType":"Appointment","status":"booked","participant":[{"actor":{"reference":"urn:uuid:0f6d8d1e-1b3a-4c5e-8f9a-0a1b2c3d4e5f"},"status":"accepted"}]},"request":{"method":"POST","url":"Appointment"}},
	  {"resource":{"resourceType":"Patient","id":"p2"},"request":{"method":"PUT","url":"Patient/p2"}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if b.Type != "transaction" || len(b.Entries) != 3 || b.Entries[0].IfNoneExist != "identifier=x|1" || b.Entries[2].Resource.ID != "p2" ||
		!strings.HasPrefix(string(b.Entries[1].Resource.Raw), `{"resourceType":"Appointment"`) {
		t.Fatalf("%+v", b)
	}
	bad := []struct {
		name, body string
		status     int
		expr       string
	}{
		{"collection", `{"resourceType":"Bundle","type":"collection"}`, 422, "Bundle.type"},
		{"not a bundle", `{"resourceType":"Patient"}`, 400, "Bundle.resourceType"},
		{"entry date", `{"resourceType":"Bundle","type":"batch","entry":[{"resource":{"resourceType":"Patient","birthDate":"x"},"request":{"method":"POST","url":"Patient"}}]}`, 400, "Bundle.entry[0].resource.birthDate"},
		{"entry unknown element", `{"resourceType":"Bundle","type":"batch","entry":[{"resource":{"resourceType":"Patient","zz":1},"request":{"method":"POST","url":"Patient"}}]}`, 400, "Bundle.entry[0].resource.zz"},
		{"url type mismatch", `{"resourceType":"Bundle","type":"batch","entry":[{"resource":{"resourceType":"Patient"},"request":{"method":"POST","url":"Observation"}}]}`, 400, "Bundle.entry[0].request.url"},
		{"put id mismatch", `{"resourceType":"Bundle","type":"batch","entry":[{"resource":{"resourceType":"Patient","id":"a"},"request":{"method":"PUT","url":"Patient/b"}}]}`, 400, "Bundle.entry[0].resource.id"},
		{"delete", `{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"DELETE","url":"Patient/b"}}]}`, 422, "Bundle.entry[0].request.method"},
		{"no request", `{"resourceType":"Bundle","type":"batch","entry":[{"resource":{"resourceType":"Patient"}}]}`, 422, "Bundle.entry[0].request"},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			_, err := v.Bundle([]byte(c.body))
			var oe *outcome.Error
			if !errors.As(err, &oe) || oe.Status != c.status || oe.Issues[0].Expression != c.expr {
				t.Fatalf("got %v, want %d at %s", err, c.status, c.expr)
			}
		})
	}
}

// The HL7 R4 examples in ../shared (when present) must all pass, except the
// one HL7 example with a wrong reference target.
func TestHL7Examples(t *testing.T) {
	v := mustValidator(t)
	dir := filepath.Join(testenv.RepoRoot(t), "..", "shared", "fhir-r4-examples")
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	own, _ := filepath.Glob(filepath.Join(testenv.RepoRoot(t), "testdata", "fhir", "valid", "*.json"))
	ran := 0
	for _, f := range append(files, own...) {
		if filepath.Base(f) == "Observation-clinical-gender.json" {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.Resource(b, ""); err != nil {
			t.Errorf("%s: %v", filepath.Base(f), err)
		}
		ran++
	}
	t.Logf("validated %d HL7 examples from %s and %d project samples", len(files), dir, len(own))
	if len(own) == 0 {
		t.Fatal("no project samples in testdata/fhir/valid")
	}
	_ = ran
}

func BenchmarkResourcePatient(b *testing.B) {
	v := mustValidator(b)
	body := []byte(`{"resourceType":"Patient","id":"example","identifier":[{"use":"usual","system":"urn:oid:1.2.36.146.595.217.0.1","value":"12345"}],"active":true,"name":[{"use":"official","family":"Chalmers","given":["Peter","James"]}],"telecom":[{"system":"phone","value":"(03) 5555 6473","use":"work"}],"gender":"male","birthDate":"1974-12-25","address":[{"use":"home","line":["534 Erewhon St"],"city":"PleasantVille","state":"Vic","postalCode":"3999"}]}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Resource(body, "Patient"); err != nil {
			b.Fatal(err)
		}
	}
}
