package route

import (
	"strings"
	"testing"

	"github.com/switchboard-health/switchboard/connectors"
)

func isType(s string) bool { return s == "Patient" || s == "Appointment" }

func TestParseRoutes(t *testing.T) {
	tab, err := Parse([]byte(`
destinations:
  ehr: {type: fhir, config: {base_url: "http://x"}}
  payments: {type: stripe, max_workers: 3}
routes:
  - {resource: Patient, to: [ehr, payments]}
  - {resource: Appointment, interactions: [create], to: [ehr]}
`), isType)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		res  string
		in   connectors.Interaction
		want string
	}{
		{"Patient", connectors.Create, "ehr,payments"},
		{"Patient", connectors.Update, "ehr,payments"},
		{"Appointment", connectors.Create, "ehr"},
		{"Appointment", connectors.Update, ""},
		{"Observation", connectors.Create, ""},
	}
	for _, c := range cases {
		if got := strings.Join(tab.For(c.res, c.in), ","); got != c.want {
			t.Errorf("%s %s: got %q want %q", c.res, c.in, got, c.want)
		}
	}
	if d := tab.Destinations["payments"]; d.MaxWorkers != 3 || d.MaxAttempts != DefaultMaxAttempts {
		t.Errorf("defaults: %+v", d)
	}
	var cfg struct {
		BaseURL string `yaml:"base_url"`
	}
	if err := tab.Destinations["ehr"].Decoder()(&cfg); err != nil || cfg.BaseURL != "http://x" {
		t.Errorf("decode config: %v %+v", err, cfg)
	}
	var strict struct{}
	if err := tab.Destinations["ehr"].Decoder()(&strict); err == nil {
		t.Error("unknown config field must be refused")
	}
}

func TestParseReportsEveryProblem(t *testing.T) {
	_, err := Parse([]byte(`
destinations:
  "Bad Name": {type: fhir}
  ehr: {}
routes:
  - {resource: Patinet, to: [ehr]}
  - {resource: Patient, interactions: [delete], to: [nowhere]}
`), isType)
	if err == nil {
		t.Fatal("want error")
	}
	for _, want := range []string{"Bad Name", "type is required", "Patinet", `interaction "delete"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error should mention %q: %v", want, err)
		}
	}
	if _, err := Parse([]byte("destinations: {ehr: {type: fhir}}\nroutes: []\nextra: 1\n"), isType); err == nil {
		t.Error("unknown top-level key must be refused")
	}
}

func TestExpand(t *testing.T) {
	env := func(k string) (string, bool) {
		if k == "SET" {
			return "v", true
		}
		return "", false
	}
	got, err := Expand([]byte("a: ${SET}\nb: ${UNSET:-dflt}\nc: ${SET:-x}\n"), env)
	if err != nil || string(got) != "a: v\nb: dflt\nc: v\n" {
		t.Fatalf("%v %q", err, got)
	}
	if _, err := Expand([]byte("a: ${UNSET}"), env); err == nil || !strings.Contains(err.Error(), "UNSET") {
		t.Fatalf("unset variable must be named: %v", err)
	}
}
