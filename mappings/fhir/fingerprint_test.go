package fhir

import (
	"bytes"
	"testing"
)

func TestSyncedFields(t *testing.T) {
	const hub = "https://switchboard.health/id/"
	appt := func(extra string) string {
		return `{"resourceType":"Appointment","id":"a1","status":"booked","start":"2026-03-01T09:00:00Z","end":"2026-03-01T09:30:00Z"` + extra + `}`
	}
	pat := `{"resourceType":"Patient","id":"p1","name":[{"family":"Doe"}],"identifier":[{"system":"urn:mrn","value":"7"}]}`
	cases := []struct {
		name      string
		a, b      string
		wantEqual bool
	}{
		{"appointment identical", appt(""), appt(""), true},
		{"appointment note differs", appt(""), appt(`,"comment":"call ahead","description":"x"`), true},
		{"appointment participant differs", appt(""), appt(`,"participant":[{"actor":{"reference":"Practitioner/9"},"status":"accepted"}]`), true},
		{"appointment id and meta differ", appt(""), `{"resourceType":"Appointment","id":"zz","meta":{"versionId":"4"},"status":"booked","start":"2026-03-01T09:00:00Z","end":"2026-03-01T09:30:00Z"}`, true},
		{"appointment same instant other zone", appt(""), `{"resourceType":"Appointment","status":"booked","start":"2026-03-01T10:00:00+01:00","end":"2026-03-01T04:30:00-05:00"}`, true},
		{"appointment fractional seconds same instant", appt(""), `{"resourceType":"Appointment","status":"booked","start":"2026-03-01T09:00:00.000Z","end":"2026-03-01T09:30:00Z"}`, true},
		{"appointment start differs", appt(""), `{"resourceType":"Appointment","status":"booked","start":"2026-03-01T09:15:00Z","end":"2026-03-01T09:30:00Z"}`, false},
		{"appointment end differs", appt(""), `{"resourceType":"Appointment","status":"booked","start":"2026-03-01T09:00:00Z","end":"2026-03-01T10:00:00Z"}`, false},
		{"appointment status differs", appt(""), `{"resourceType":"Appointment","status":"cancelled","start":"2026-03-01T09:00:00Z","end":"2026-03-01T09:30:00Z"}`, false},
		{"appointment unparsable start kept verbatim", `{"resourceType":"Appointment","status":"booked","start":"soon"}`, `{"resourceType":"Appointment","status":"booked","start":"later"}`, false},
		{"patient identical", pat, pat, true},
		{"patient key order irrelevant", pat, `{"identifier":[{"value":"7","system":"urn:mrn"}],"name":[{"family":"Doe"}],"resourceType":"Patient"}`, true},
		{"patient id meta text ignored", pat, `{"resourceType":"Patient","id":"other","meta":{"lastUpdated":"2026-01-01T00:00:00Z"},"text":{"status":"generated"},"name":[{"family":"Doe"}],"identifier":[{"system":"urn:mrn","value":"7"}]}`, true},
		{"patient hub identifier ignored", pat, `{"resourceType":"Patient","name":[{"family":"Doe"}],"identifier":[{"system":"urn:mrn","value":"7"},{"system":"` + hub + `payments","value":"cus_1"}]}`, true},
		{"patient only hub identifiers equals none", `{"resourceType":"Patient","name":[{"family":"Doe"}]}`, `{"resourceType":"Patient","name":[{"family":"Doe"}],"identifier":[{"system":"` + hub + `x","value":"1"}]}`, true},
		{"patient other identifier differs", pat, `{"resourceType":"Patient","name":[{"family":"Doe"}],"identifier":[{"system":"urn:mrn","value":"8"}]}`, false},
		{"patient name differs", pat, `{"resourceType":"Patient","name":[{"family":"Roe"}],"identifier":[{"system":"urn:mrn","value":"7"}]}`, false},
		{"observation large number kept exactly", `{"resourceType":"Observation","valueQuantity":{"value":12345678901234567890}}`, `{"resourceType":"Observation","valueQuantity":{"value":12345678901234567891}}`, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fa, err := SyncedFields([]byte(tc.a), hub)
			if err != nil {
				t.Fatal(err)
			}
			fb, err := SyncedFields([]byte(tc.b), hub)
			if err != nil {
				t.Fatal(err)
			}
			if got := bytes.Equal(fa, fb); got != tc.wantEqual {
				t.Fatalf("equal = %v, want %v\n a: %s\n b: %s", got, tc.wantEqual, fa, fb)
			}
		})
	}
}

func TestSyncedFieldsContent(t *testing.T) {
	const hub = "https://switchboard.health/id/"
	cases := []struct {
		name, in, want string
	}{
		{"appointment keeps status start end in UTC", `{"resourceType":"Appointment","id":"a","status":"booked","start":"2026-03-01T10:00:00+01:00","comment":"n"}`,
			`{"end":null,"start":"2026-03-01T09:00:00Z","status":"booked"}`},
		{"patient drops id meta text hub ids", `{"resourceType":"Patient","id":"p","meta":{},"text":{},"identifier":[{"system":"` + hub + `a","value":"1"},{"system":"urn:x","value":"2"}],"active":true}`,
			`{"active":true,"identifier":[{"system":"urn:x","value":"2"}],"resourceType":"Patient"}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := SyncedFields([]byte(tc.in), hub)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestSyncedFieldsRejectsNonObject(t *testing.T) {
	for _, in := range []string{``, `not json`, `[1,2]`, `"str"`, `{"a":`} {
		if _, err := SyncedFields([]byte(in), "https://switchboard.health/id/"); err == nil {
			t.Errorf("SyncedFields(%q): no error", in)
		}
	}
}
