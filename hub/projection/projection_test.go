package projection_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/switchboard-health/switchboard/hub/projection"
	"github.com/switchboard-health/switchboard/hub/testenv"
)

// TestContactKeepsContactFieldsOnly feeds a Patient full of clinical content
// (narrative, contained Condition and Observation, extensions at every
// level, identifiers, dates, address) through the contact projection: only
// the allow-listed elements survive and none of the planted values does.
func TestContactKeepsContactFieldsOnly(t *testing.T) {
	in, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "testdata", "fhir", "projection", "patient-clinical.json"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := projection.Named("contact")
	if err != nil {
		t.Fatal(err)
	}
	out, err := p.Apply("Patient", in)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	if keys := sortedKeys(got); !reflect.DeepEqual(keys, []string{"id", "name", "resourceType", "telecom"}) {
		t.Fatalf("top-level elements: %v", keys)
	}
	name := got["name"].([]any)[0].(map[string]any)
	if keys := sortedKeys(name); !reflect.DeepEqual(keys, []string{"family", "given", "use"}) {
		t.Fatalf("name elements: %v", keys)
	}
	for _, tel := range got["telecom"].([]any) {
		for k := range tel.(map[string]any) {
			if k != "system" && k != "value" && k != "use" && k != "rank" {
				t.Fatalf("telecom element %q survived", k)
			}
		}
	}
	for _, planted := range []string{"Zz", "1991-07-14", "female", "02139", "EPDS", "19", "mrn", "extension", "contained", "div"} {
		if bytes.Contains(out, []byte(planted)) {
			t.Errorf("the contact projection let %q through: %s", planted, out)
		}
	}
	for _, kept := range []string{"Okafor", "Adaeze", "Ngozi", "adaeze.okafor@example.org", "+1 555 0100", "pat-proj-1"} {
		if !bytes.Contains(out, []byte(kept)) {
			t.Errorf("the contact projection lost %q: %s", kept, out)
		}
	}
}

func TestProjections(t *testing.T) {
	full, err := projection.Named("")
	if err != nil || full.Name() != "full" {
		t.Fatalf("default projection: %v %v", full, err)
	}
	body := []byte(`{"resourceType":"Observation","status":"final"}`)
	if out, err := full.Apply("Observation", body); err != nil || !bytes.Equal(out, body) {
		t.Fatalf("full must pass the bytes through unchanged: %s %v", out, err)
	}
	contact, _ := projection.Named("contact")
	cases := []struct {
		name, typ, body string
		want            error
		wantOut         string
	}{
		{"a clinical resource is refused", "Observation", `{"resourceType":"Observation","status":"final"}`, projection.ErrNotAllowed, ""},
		{"a Patient with nothing to keep keeps its type", "Patient", `{"resourceType":"Patient","birthDate":"1990-01-01"}`, nil, `{"resourceType":"Patient"}`},
		{"an object where a primitive belongs is dropped", "Patient", `{"resourceType":"Patient","id":{"x":"Zz"}}`, nil, `{"resourceType":"Patient"}`},
		{"empty name items vanish", "Patient", `{"resourceType":"Patient","name":[{"period":{"start":"2000"}}]}`, nil, `{"resourceType":"Patient"}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, err := contact.Apply(c.typ, []byte(c.body))
			if !errors.Is(err, c.want) {
				t.Fatalf("error %v, want %v", err, c.want)
			}
			if err != nil && strings.Contains(err.Error(), "final") {
				t.Fatalf("the error quotes the resource: %v", err)
			}
			if c.wantOut != "" && string(out) != c.wantOut {
				t.Fatalf("got %s, want %s", out, c.wantOut)
			}
		})
	}
	if contact.Allows("Appointment") || !contact.Allows("Patient") {
		t.Fatal("contact carries Patient only")
	}
	if _, err := projection.Named("everything"); err == nil {
		t.Fatal("an unknown projection must be refused")
	}
}

func sortedKeys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestPresetIsAFieldList: the contact preset is the field list a routing
// file could declare, and gives the same bytes as that declaration.
func TestPresetIsAFieldList(t *testing.T) {
	in, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "testdata", "fhir", "projection", "patient-clinical.json"))
	if err != nil {
		t.Fatal(err)
	}
	fields, ok := projection.Preset("contact")
	if !ok {
		t.Fatal("no contact preset")
	}
	declared, err := projection.Declared(fields)
	if err != nil {
		t.Fatal(err)
	}
	contact, _ := projection.Named("contact")
	a, errA := contact.Apply("Patient", in)
	b, errB := declared.Apply("Patient", in)
	if errA != nil || errB != nil || !bytes.Equal(a, b) {
		t.Fatalf("preset %s (%v), declared %s (%v)", a, errA, b, errB)
	}
	if _, ok := projection.Preset("full"); ok {
		t.Fatal("full is no field list")
	}
}

// TestDeclaredFieldLists: a field list is checked against FHIR R4 element
// names and keeps primitives as primitives, complex elements whole.
func TestDeclaredFieldLists(t *testing.T) {
	bad := []struct {
		name   string
		fields projection.Fields
		want   string
	}{
		{"no type", projection.Fields{}, "names no resource type"},
		{"unknown type", projection.Fields{"Patinet": {"id"}}, `"Patinet" is not a FHIR R4 resource type`},
		{"no element", projection.Fields{"Patient": nil}, "Patient lists no element"},
		{"unknown element", projection.Fields{"Patient": {"nmae"}}, "Patient.nmae is not a FHIR R4 element"},
		{"inside a primitive", projection.Fields{"Patient": {"gender.code"}}, "Patient.gender.code is not a FHIR R4 element"},
		{"a choice without its type", projection.Fields{"Patient": {"deceased"}}, "Patient.deceased is not a FHIR R4 element"},
		{"resourceType is implied", projection.Fields{"Patient": {"resourceType"}}, "Patient.resourceType is not a FHIR R4 element"},
	}
	for _, c := range bad {
		if _, err := projection.Declared(c.fields); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
	p, err := projection.Declared(projection.Fields{"Patient": {"gender", "name", "name.family", "deceasedBoolean"}})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ name, in, want string }{
		{"a complex element listed whole stays whole", `{"resourceType":"Patient","name":[{"family":"Okafor","given":["Ada"]}]}`,
			`{"name":[{"family":"Okafor","given":["Ada"]}],"resourceType":"Patient"}`},
		{"primitives and choices", `{"resourceType":"Patient","gender":"female","deceasedBoolean":false,"birthDate":"1990-01-01"}`,
			`{"deceasedBoolean":false,"gender":"female","resourceType":"Patient"}`},
		{"an object where a primitive belongs is dropped", `{"resourceType":"Patient","gender":{"x":"Zz"}}`, `{"resourceType":"Patient"}`},
		{"a scalar where an object belongs is dropped", `{"resourceType":"Patient","name":"Zz"}`, `{"resourceType":"Patient"}`},
	}
	for _, c := range cases {
		out, err := p.Apply("Patient", []byte(c.in))
		if err != nil || string(out) != c.want {
			t.Errorf("%s: got %s (%v), want %s", c.name, out, err, c.want)
		}
	}
	if p.Name() != "declared" || p.Allows("Observation") {
		t.Fatalf("%s allows Observation: %v", p.Name(), p.Allows("Observation"))
	}
}
