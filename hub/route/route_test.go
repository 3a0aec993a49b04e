package route

import (
	"strings"
	"testing"
	"time"

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

// TestProjectionInTheRoutingFile: a destination's projection is applied by
// the table, and routing a type the projection does not carry is refused at
// load time, not discovered at delivery.
func TestProjectionInTheRoutingFile(t *testing.T) {
	tab, err := Parse([]byte(`
destinations:
  ehr: {type: fhir}
  marketing: {type: hubspot, projection: contact}
routes:
  - {resource: Patient, to: [ehr, marketing]}
`), isType)
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"resourceType":"Patient","birthDate":"1990-01-01","name":[{"family":"Okafor"}]}`)
	got, err := tab.Project("marketing", "Patient", body)
	if err != nil || string(got) != `{"name":[{"family":"Okafor"}],"resourceType":"Patient"}` {
		t.Fatalf("marketing receives %s (%v)", got, err)
	}
	if got, err := tab.Project("ehr", "Patient", body); err != nil || string(got) != string(body) {
		t.Fatalf("ehr receives %s (%v)", got, err)
	}
	for _, bad := range []struct{ name, yaml, want string }{
		{"clinical type to a contact destination", `
destinations:
  marketing: {type: hubspot, projection: contact}
routes:
  - {resource: Appointment, to: [marketing]}
`, `projection "contact", which does not carry Appointment`},
		{"unknown projection", `
destinations:
  marketing: {type: hubspot, projection: everything}
routes:
  - {resource: Patient, to: [marketing]}
`, `unknown projection "everything"`},
		{"a type the field list does not declare", `
destinations:
  marketing: {type: hubspot, projection: {Patient: [id, telecom.value]}}
routes:
  - {resource: Appointment, to: [marketing]}
`, `projection "declared", which does not carry Appointment`},
		{"an element the type does not have", `
destinations:
  marketing: {type: hubspot, projection: {Patient: [id, name.famly, email]}}
routes:
  - {resource: Patient, to: [marketing]}
`, `Patient.name.famly is not a FHIR R4 element`},
		{"every wrong element is named", `
destinations:
  marketing: {type: hubspot, projection: {Patient: [id, name.famly, email]}}
routes:
  - {resource: Patient, to: [marketing]}
`, `Patient.email is not a FHIR R4 element`},
		{"not a resource type", `
destinations:
  marketing: {type: hubspot, projection: {Patinet: [id]}}
routes:
  - {resource: Patient, to: [marketing]}
`, `"Patinet" is not a FHIR R4 resource type`},
		{"a type with no element", `
destinations:
  marketing: {type: hubspot, projection: {Patient: []}}
routes:
  - {resource: Patient, to: [marketing]}
`, `Patient lists no element`},
		{"an empty field list", `
destinations:
  marketing: {type: hubspot, projection: {}}
routes:
  - {resource: Patient, to: [marketing]}
`, `names no resource type`},
		{"a list where a name or a field list belongs", `
destinations:
  marketing: {type: hubspot, projection: [contact]}
routes:
  - {resource: Patient, to: [marketing]}
`, `line 3: projection: a preset's name or a list of elements per resource type`},
	} {
		if _, err := Parse([]byte(bad.yaml), isType); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s: %v, want %q", bad.name, err, bad.want)
		}
	}
}

// TestDeclaredProjection: a field list keeps exactly the elements it
// names, per resource type; a complex element listed whole is kept whole,
// a dotted path keeps only that part of it.
func TestDeclaredProjection(t *testing.T) {
	tab, err := Parse([]byte(`
destinations:
  ehr: {type: fhir}
  newsletter:
    type: hubspot
    projection:
      Patient: [id, name.given, telecom]
      Appointment: [status, start]
routes:
  - {resource: Patient, to: [ehr, newsletter]}
  - {resource: Appointment, to: [ehr, newsletter]}
`), isType)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ typ, in, want string }{
		{"Patient", `{"resourceType":"Patient","id":"p1","birthDate":"1990-01-01","name":[{"family":"Okafor","given":["Ada"]}],"telecom":[{"system":"email","value":"a@example.org","period":{"start":"2020"}}]}`,
			`{"id":"p1","name":[{"given":["Ada"]}],"resourceType":"Patient","telecom":[{"period":{"start":"2020"},"system":"email","value":"a@example.org"}]}`},
		{"Appointment", `{"resourceType":"Appointment","id":"a1","status":"booked","start":"2030-01-01T10:00:00Z","description":"follow-up"}`,
			`{"resourceType":"Appointment","start":"2030-01-01T10:00:00Z","status":"booked"}`},
	}
	for _, c := range cases {
		got, err := tab.Project("newsletter", c.typ, []byte(c.in))
		if err != nil || string(got) != c.want {
			t.Errorf("%s: got %s (%v), want %s", c.typ, got, err, c.want)
		}
	}
	if tab.FullProjection("newsletter") {
		t.Error("a field list is not the full projection")
	}
}

func TestReads(t *testing.T) {
	tab, err := Parse([]byte(`
destinations:
  ehr: {type: fhir}
routes:
  - {resource: Patient, to: [ehr]}
reads:
  - {resource: Appointment, from: ehr}
`), isType)
	if err != nil {
		t.Fatal(err)
	}
	if d, ok := tab.ReadFrom("Appointment"); !ok || d != "ehr" {
		t.Fatalf("Appointment reads from %q %v", d, ok)
	}
	if _, ok := tab.ReadFrom("Patient"); ok {
		t.Fatal("Patient has no read route")
	}
	_, err = Parse([]byte(`
destinations:
  ehr: {type: fhir}
routes:
  - {resource: Patient, to: [ehr]}
reads:
  - {resource: Appointment, from: nowhere}
  - {resource: Appointment, from: ehr}
  - {resource: Apointment, from: ehr}
`), isType)
	for _, want := range []string{`reads[0]: destination "nowhere" is not defined`, `reads[1]: Appointment is already read`, `reads[2]: "Apointment" is not a FHIR R4 resource type`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("want %q in %v", want, err)
		}
	}
}

func TestDriftRules(t *testing.T) {
	tab, err := Parse([]byte(`
destinations:
  ehr: {type: fhir}
  scheduling: {type: calcom}
routes:
  - {resource: Appointment, to: [ehr, scheduling]}
drift:
  - {resource: Appointment, between: [scheduling, ehr]}
  - {resource: Appointment, between: [ehr, scheduling], window: 336h, every: 30m}
`), isType)
	if err != nil {
		t.Fatal(err)
	}
	if len(tab.Drift) != 2 {
		t.Fatalf("%d drift rules, want 2", len(tab.Drift))
	}
	d := tab.Drift[0]
	if d.Scheduling() != "scheduling" || d.EHR() != "ehr" || d.Window != 14*24*time.Hour || d.Every != time.Hour {
		t.Fatalf("defaults: %+v", d)
	}
	if d := tab.Drift[1]; d.Window != 336*time.Hour || d.Every != 30*time.Minute {
		t.Fatalf("explicit: %+v", d)
	}
	_, err = Parse([]byte(`
destinations:
  ehr: {type: fhir}
  scheduling: {type: calcom}
routes:
  - {resource: Appointment, to: [ehr]}
drift:
  - {resource: Patient, between: [scheduling, ehr]}
  - {resource: Appointment, between: [scheduling, nowhere]}
  - {resource: Appointment, between: [scheduling]}
  - {resource: Appointment, between: [scheduling, ehr], window: 30s}
  - {resource: Appointment, between: [scheduling, ehr], every: 1s}
`), isType)
	for _, want := range []string{`drift[0]: resource "Patient" is not compared`, `drift[1]: destination "nowhere" is not defined`,
		`drift[2]: between must name two destinations`, `drift[3]: window and every must be at least 1m`,
		`drift[4]: window and every must be at least 1m`, `drift[4]: scheduling and ehr are already compared`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("want %q in %v", want, err)
		}
	}
}
