package stripe

import (
	"flag"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// Golden tests: testdata/mappings/stripe/*.json (FHIR Patients written by
// this project) to *.golden.form, the Stripe request body one parameter a
// line, keys sorted (joined with '&' it is exactly what the connector sends).
func TestGolden(t *testing.T) {
	inputs, _ := filepath.Glob(filepath.Join("..", "..", "testdata", "mappings", "stripe", "*.json"))
	if len(inputs) == 0 {
		t.Fatal("no golden inputs")
	}
	for _, in := range inputs {
		t.Run(filepath.Base(in), func(t *testing.T) {
			src, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			v, err := Customer(src, "tr_golden")
			if err != nil {
				t.Fatal(err)
			}
			got := strings.ReplaceAll(v.Encode(), "&", "\n") + "\n"
			golden := strings.TrimSuffix(in, ".json") + ".golden.form"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./mappings/... -update)", err)
			}
			if got != string(want) {
				t.Fatalf("mapping differs from %s:\n%s", golden, got)
			}
			for k := range v {
				if !allowed(k) {
					t.Errorf("Stripe must not receive %s", k)
				}
			}
			for _, clinical := range []string{"birth", "gender", "1990-04-01", "1985-02-14"} {
				if strings.Contains(got, clinical) {
					t.Errorf("Stripe must not receive %q", clinical)
				}
			}
		})
	}
}

func allowed(k string) bool {
	switch k {
	case "name", "email", "phone",
		"address[line1]", "address[line2]", "address[city]", "address[state]", "address[postal_code]", "address[country]",
		"metadata[fhir_resource]", "metadata[switchboard_transfer]", "metadata[switchboard_origin]":
		return true
	}
	return false
}

func TestCustomerFields(t *testing.T) {
	cases := []struct {
		name, patient string
		want          url.Values
	}{
		{"official name: given and family, not text",
			`{"resourceType":"Patient","name":[{"given":["First"]},{"use":"official","text":"T","given":["A","B"],"family":"C"}]}`,
			url.Values{"name": {"A B C"}}},
		{"text when there are no parts",
			`{"resourceType":"Patient","name":[{"text":"Only Text"}]}`,
			url.Values{"name": {"Only Text"}}},
		{"first email and phone, empty values skipped",
			`{"resourceType":"Patient","telecom":[{"system":"email","value":""},{"system":"email","value":"a@x.example"},{"system":"email","value":"b@x.example"},{"system":"sms","value":"1"},{"system":"phone","value":"2"}]}`,
			url.Values{"email": {"a@x.example"}, "phone": {"2"}}},
		{"home address over the first",
			`{"resourceType":"Patient","address":[{"use":"work","city":"W"},{"use":"home","line":["1","2","3"],"city":"H"}]}`,
			url.Values{"address[city]": {"H"}, "address[line1]": {"1"}, "address[line2]": {"2, 3"}}},
		{"id gives the FHIR reference",
			`{"resourceType":"Patient","id":"p1"}`,
			url.Values{"metadata[fhir_resource]": {"Patient/p1"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Customer([]byte(c.patient), "tr_1")
			if err != nil {
				t.Fatal(err)
			}
			c.want.Set("metadata[switchboard_transfer]", "tr_1")
			c.want.Set("metadata[switchboard_origin]", "switchboard")
			if got.Encode() != c.want.Encode() {
				t.Fatalf("got  %s\nwant %s", got.Encode(), c.want.Encode())
			}
		})
	}
}

func TestCustomerRejects(t *testing.T) {
	cases := map[string]string{
		"not JSON":      `{"resourceType":`,
		"not a Patient": `{"resourceType":"Observation","status":"final"}`,
		"no type":       `{"name":[{"family":"Zzsecret"}]}`,
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Customer([]byte(in), "tr")
			if err == nil || strings.Contains(err.Error(), "Zzsecret") {
				t.Fatalf("%v", err)
			}
		})
	}
}

func TestCustomerID(t *testing.T) {
	cases := []struct{ patient, want string }{
		{`{"resourceType":"Patient","identifier":[{"system":"https://clinic.example/mrn","value":"M1"},{"system":"` + IdentifierSystem + `","value":"cus_123"}]}`, "cus_123"},
		{`{"resourceType":"Patient","identifier":[{"system":"` + IdentifierSystem + `"}]}`, ""},
		{`{"resourceType":"Patient","identifier":[{"value":"cus_123"}]}`, ""},
		{`{"resourceType":"Patient"}`, ""},
		{`{"resourceType":"Organization","identifier":[{"system":"` + IdentifierSystem + `","value":"cus_123"}]}`, ""},
	}
	for _, c := range cases {
		if got := CustomerID([]byte(c.patient)); got != c.want {
			t.Errorf("%s: %q, want %q", c.patient, got, c.want)
		}
	}
}
