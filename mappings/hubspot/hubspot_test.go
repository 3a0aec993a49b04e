package hubspot

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// pretty re-encodes JSON indented with sorted keys, as the goldens are.
func pretty(t *testing.T, b []byte) []byte {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	out, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(out, '\n')
}

// Golden tests: testdata/mappings/hubspot/patient-*.json (FHIR Patients
// written by this project) to the batch upsert body, contact-*.json (HubSpot
// answers) to FHIR Patients; *.golden.json beside them, pretty-printed with
// sorted keys. go test ./mappings/hubspot/ -update rewrites them.
func TestGolden(t *testing.T) {
	inputs, _ := filepath.Glob(filepath.Join("..", "..", "testdata", "mappings", "hubspot", "*.json"))
	n := 0
	for _, in := range inputs {
		if strings.HasSuffix(in, ".golden.json") {
			continue
		}
		n++
		t.Run(filepath.Base(in), func(t *testing.T) {
			src, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			var got []byte
			switch base := filepath.Base(in); {
			case strings.HasPrefix(base, "patient-"):
				u, err := Upsert(src, Options{FHIRIDProperty: DefaultFHIRIDProperty, TraceID: "tr_golden"})
				if err != nil {
					t.Fatal(err)
				}
				got, _ = json.Marshal(u)
			case strings.HasPrefix(base, "contact-"):
				if got, err = Patient(src); err != nil {
					t.Fatal(err)
				}
			default:
				t.Fatalf("%s: name inputs patient-*.json or contact-*.json", base)
			}
			got = pretty(t, got)
			golden := strings.TrimSuffix(in, ".json") + ".golden.json"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./mappings/hubspot/ -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("mapping differs from %s:\n%s", golden, got)
			}
		})
	}
	if n < 4 {
		t.Fatalf("%d golden inputs, want at least 4", n)
	}
}

// A Patient full of clinical content gives HubSpot the allow-listed contact
// fields and nothing else: no key beyond the allow-list, and none of the
// clinical values anywhere in the bytes sent.
func TestClinicalContentNeverLeaves(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("..", "..", "testdata", "mappings", "hubspot", "patient-clinical.json"))
	if err != nil {
		t.Fatal(err)
	}
	u, err := Upsert(src, Options{FHIRIDProperty: DefaultFHIRIDProperty, TraceID: "tr_1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(u.Inputs) != 1 {
		t.Fatalf("%d inputs, want 1", len(u.Inputs))
	}
	var keys []string
	for k := range u.Inputs[0].Properties {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	want := []string{"email", "firstname", "lastname", DefaultFHIRIDProperty}
	sort.Strings(want)
	if !reflect.DeepEqual(keys, want) {
		t.Fatalf("properties %v, want exactly %v", keys, want)
	}
	out, _ := json.Marshal(u)
	var top map[string]any
	_ = json.Unmarshal(out, &top)
	if len(top) != 1 || top["inputs"] == nil {
		t.Fatalf("top-level keys beyond inputs: %s", out)
	}
	for _, leak := range []string{
		"Zz", "zz", "1971", "11-23", "female", "999-00-1234", "us-ssn", "90210",
		"diabet", "HbA1c", "Condition", "Observation", "contained", "extension",
		"div", "birth", "gender", "address", "identifier", "marital", "communication", "generalPractitioner",
	} {
		if bytes.Contains(out, []byte(leak)) {
			t.Errorf("HubSpot would receive %q: %s", leak, out)
		}
	}
}

func TestUpsertFields(t *testing.T) {
	cases := []struct {
		name, patient string
		opts          Options
		want          map[string]string
	}{
		{"home email over the first; official name's first given",
			`{"resourceType":"Patient","id":"p1","name":[{"given":["N"],"family":"F0"},{"use":"official","given":["A","B"],"family":"C"}],"telecom":[{"system":"email","value":"w@x.example","use":"work"},{"system":"email","value":"h@x.example","use":"home"}]}`,
			Options{FHIRIDProperty: "fhir_id"},
			map[string]string{"email": "h@x.example", "firstname": "A", "lastname": "C", "fhir_id": "p1"}},
		{"first email without a home one; empty values skipped; first phone",
			`{"resourceType":"Patient","telecom":[{"system":"email","value":" "},{"system":"email","value":"a@x.example"},{"system":"sms","value":"1"},{"system":"phone","value":"2"},{"system":"phone","value":"3"}]}`,
			Options{FHIRIDProperty: DefaultFHIRIDProperty},
			map[string]string{"email": "a@x.example", "phone": "2"}},
		{"the first name when none is official",
			`{"resourceType":"Patient","name":[{"given":["G"]},{"family":"Other"}],"telecom":[{"system":"email","value":"a@x.example"}]}`,
			Options{},
			map[string]string{"email": "a@x.example", "firstname": "G"}},
		{"an empty property name leaves the FHIR id out",
			`{"resourceType":"Patient","id":"p1","telecom":[{"system":"email","value":"a@x.example"}]}`,
			Options{},
			map[string]string{"email": "a@x.example"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			u, err := Upsert([]byte(c.patient), c.opts)
			if err != nil {
				t.Fatal(err)
			}
			in := u.Inputs[0]
			if !reflect.DeepEqual(in.Properties, c.want) || in.ID != c.want["email"] || in.IDProperty != "email" {
				t.Fatalf("got %+v, want properties %v keyed by email", in, c.want)
			}
		})
	}
}

func TestUpsertRejects(t *testing.T) {
	cases := []struct {
		name, in string
		noEmail  bool
	}{
		{"no email", `{"resourceType":"Patient","name":[{"family":"Zzsecret"}],"telecom":[{"system":"phone","value":"Zz555"}]}`, true},
		{"an empty email", `{"resourceType":"Patient","telecom":[{"system":"email","value":""}]}`, true},
		{"not JSON", `{"resourceType":`, false},
		{"not a Patient", `{"resourceType":"Observation","status":"final","valueString":"Zzsecret"}`, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Upsert([]byte(c.in), Options{})
			if err == nil || strings.Contains(err.Error(), "Zz") {
				t.Fatalf("%v", err)
			}
			if errors.Is(err, ErrNoEmail) != c.noEmail {
				t.Fatalf("ErrNoEmail %v, want %v: %v", errors.Is(err, ErrNoEmail), c.noEmail, err)
			}
		})
	}
}

func TestSearchByEmailAndResults(t *testing.T) {
	req, _ := json.Marshal(SearchByEmail("a@x.example", "", 10))
	want := `{"after":"","filterGroups":[{"filters":[{"propertyName":"email","operator":"EQ","value":"a@x.example"}]}],"limit":10,"properties":["email","firstname","lastname","phone"],"sorts":[]}`
	if string(req) != want {
		t.Fatalf("search body\n%s\nwant\n%s", req, want)
	}
	pats, next, err := SearchResults([]byte(`{"total":2,"results":[{"id":"1","properties":{"email":"a@x.example","dateofbirth":"Zz1970"}},{"id":"2","properties":{}}],"paging":{"next":{"after":"2"}}}`))
	if err != nil || len(pats) != 2 || next != "2" {
		t.Fatalf("%d patients, next %q, %v", len(pats), next, err)
	}
	if string(pats[0]) != `{"resourceType":"Patient","meta":{"tag":[{"system":"https://switchboard.health/origin","code":"hubspot"}]},"identifier":[{"system":"https://switchboard.health/id/hubspot-contact","value":"1"}],"telecom":[{"system":"email","value":"a@x.example"}]}` {
		t.Fatalf("patient: %s", pats[0])
	}
	if _, next, _ := SearchResults([]byte(`{"total":0,"results":[]}`)); next != "" {
		t.Fatalf("last page has next %q", next)
	}
	if _, err := Patient([]byte(`{"properties":{"email":"Zz@x"}}`)); err == nil || strings.Contains(err.Error(), "Zz") {
		t.Fatalf("a contact without an id: %v", err)
	}
}

// HubSpot's answers are outside input: whatever they hold, the mapping
// returns an error or a Patient carrying the contact id, never a panic.
func FuzzPatient(f *testing.F) {
	if src, err := os.ReadFile(filepath.Join("..", "..", "testdata", "mappings", "hubspot", "contact-response.json")); err == nil {
		f.Add(src)
	}
	f.Add([]byte(`{"id":"1","properties":{"email":null}}`))
	f.Add([]byte(`{"id":1}`))
	f.Fuzz(func(t *testing.T, contact []byte) {
		p, err := Patient(contact)
		if err != nil {
			return
		}
		var got struct {
			ResourceType string
			Identifier   []struct{ System, Value string }
		}
		if json.Unmarshal(p, &got) != nil || got.ResourceType != "Patient" ||
			len(got.Identifier) != 1 || got.Identifier[0].System != IdentifierSystem || got.Identifier[0].Value == "" {
			t.Fatalf("%s -> %s", contact, p)
		}
	})
}

func FuzzSearchResults(f *testing.F) {
	f.Add([]byte(`{"total":1,"results":[{"id":"1","properties":{}}],"paging":{"next":{"after":"2"}}}`))
	f.Add([]byte(`{"results":null,"paging":null}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		pats, _, err := SearchResults(body)
		if err != nil {
			return
		}
		for _, p := range pats {
			if !json.Valid(p) {
				t.Fatalf("invalid JSON from %s", body)
			}
		}
	})
}
