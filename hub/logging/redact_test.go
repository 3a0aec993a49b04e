package logging

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// Canary PHI: none of these substrings may reach a log line.
const (
	canaryName    = "Zzyzxcanary Quuxley"
	canaryEmail   = "canary.patient@example.test"
	canaryPhone   = "+1 555-013-4567"
	canarySSN     = "123-45-6789"
	canaryAddress = "1 Zzcanary Lane, Springfield"
)

var canaryNeedles = []string{"Zzyzxcanary", "Quuxley", "canary.patient", "example.test", "555-013", "013-4567", "123-45-6789", "Zzcanary Lane"}

// canaryPatient is a LogValuer that puts PHI into a group when resolved.
type canaryPatient struct{}

func (canaryPatient) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", "pat_1"), slog.String("name", canaryName),
		slog.String("birthDate", "1970-01-01"), slog.String("contact", canaryEmail))
}

// canaryStruct is logged with slog.Any: its JSON field names meet the key rule.
type canaryStruct struct {
	ID        string   `json:"id"`
	Name      string   `json:"name"`
	BirthDate string   `json:"birthDate"`
	Telecom   []string `json:"telecom"`
	Note      string   `json:"comment_text"`
}

func TestCanaryPHINeverLogged(t *testing.T) {
	vendorErr := fmt.Errorf("deliver: %w", errors.New("vendor 422: patient "+canaryEmail+" phone "+canaryPhone+" ssn "+canarySSN+" rejected"))
	cases := []struct {
		name string
		log  func(l *slog.Logger)
	}{
		{"PHI keys", func(l *slog.Logger) {
			l.Info("t", "name", canaryName, "family", "Quuxley", "given", "Zzyzxcanary", "email", canaryEmail,
				"phone", canaryPhone, "address", canaryAddress, "ssn", canarySSN, "mrn", "MRN-Zzyzxcanary",
				"patient", canaryName, "subject_name", canaryName, "dob", "1970-01-01", "telecom", canaryPhone,
				"identifier", "Zzyzxcanary-1", "note", canaryName, "text", canaryAddress, "line", canaryAddress)
		}},
		{"PHI suffixes and spellings", func(l *slog.Logger) {
			l.Info("t", "patient_name", canaryName, "contact_email", canaryEmail, "home_phone", canaryPhone,
				"mailing_address", canaryAddress, "birthDate", "1970-01-01", "Patient-Name", canaryName,
				"FAMILY", "Quuxley", "patientName", canaryName)
		}},
		{"nested groups", func(l *slog.Logger) {
			l.Info("t", slog.Group("req", slog.String("method", "POST"),
				slog.Group("patient", slog.String("id", canaryName)),
				slog.Group("who", slog.String("name", canaryName), slog.Group("", slog.String("email", canaryEmail)))))
		}},
		{"With", func(l *slog.Logger) {
			l.With("family", "Quuxley", slog.Group("g", "given", "Zzyzxcanary")).Info("t")
		}},
		{"WithGroup", func(l *slog.Logger) {
			l.WithGroup("req").Info("t", "name", canaryName)
			l.WithGroup("patient").Info("t", "id", canaryName, slog.Group("x", "y", canaryAddress))
			l.WithGroup("patient").With("id", canaryName).Info("t")
		}},
		{"LogValuer", func(l *slog.Logger) {
			l.Info("t", "subject", canaryPatient{}, slog.Any("patient_ref", canaryPatient{}))
			l.With("who", canaryPatient{}).Info("t")
		}},
		{"error text", func(l *slog.Logger) {
			l.Error("t", "error", vendorErr)
			l.With("cause", vendorErr).Error("t")
		}},
		{"message", func(l *slog.Logger) {
			l.Warn("no match for " + canaryEmail + " / " + canaryPhone + " / " + canarySSN)
		}},
		{"values under safe keys", func(l *slog.Logger) {
			l.Info("t", "detail", "reply to "+canaryEmail, "reason", "ssn "+canarySSN, "hint", "(555) 013-4567")
		}},
		{"structs, maps and bytes", func(l *slog.Logger) {
			l.Info("t", "obj", canaryStruct{ID: "p1", Name: canaryName, BirthDate: "1970-01-01", Telecom: []string{canaryPhone}, Note: canaryAddress},
				"m", map[string]any{"given": []string{"Zzyzxcanary"}, "ok": canaryEmail}, "raw", []byte(canarySSN))
		}},
	}
	for _, format := range []string{"json", "text", "syslog"} {
		for _, tc := range cases {
			t.Run(format+"/"+tc.name, func(t *testing.T) {
				var buf bytes.Buffer
				l, _, err := Open(&buf, Options{Level: "debug", Format: format})
				if err != nil {
					t.Fatal(err)
				}
				tc.log(l.With("transfer_id", "tr_01HQ", "destination", "epic-prod").WithGroup("").With("status", "delivered"))
				out := buf.String()
				for _, n := range canaryNeedles {
					if strings.Contains(out, n) {
						t.Errorf("canary %q reached the log:\n%s", n, out)
					}
				}
				// ']' is escaped in a syslog SD-PARAM value.
				plain := strings.ReplaceAll(out, `\]`, `]`)
				for _, keep := range []string{"tr_01HQ", "epic-prod", "delivered", Redacted} {
					if !strings.Contains(plain, keep) {
						t.Errorf("%q missing from the log:\n%s", keep, out)
					}
				}
			})
		}
	}
}

func TestRedactKeepsSafeAttributes(t *testing.T) {
	var buf bytes.Buffer
	l := New(&buf, "info", "json")
	l.Info("delivered at 2026-11-23T04:55:17.123456Z", "transfer_id", "tr_1", "destination", "epic", "route", "/fhir/Patient/{id}",
		"resource_type", "Patient", "component", "delivery", "job_name", "deliver", "latency_ms", 1234567890,
		"request_id", "550e8400-e29b-41d4-a716-446655440000", "retry_at", "2026-11-23 04:55:17")
	want := []string{`"msg":"delivered at 2026-11-23T04:55:17.123456Z"`, `"transfer_id":"tr_1"`, `"destination":"epic"`,
		`"route":"/fhir/Patient/{id}"`, `"resource_type":"Patient"`, `"component":"delivery"`, `"job_name":"deliver"`,
		`"latency_ms":1234567890`, `"request_id":"550e8400-e29b-41d4-a716-446655440000"`, `"retry_at":"2026-11-23 04:55:17"`}
	for _, w := range want {
		if !strings.Contains(buf.String(), w) {
			t.Errorf("want %s in %s", w, buf.String())
		}
	}
	if strings.Contains(buf.String(), Redacted) {
		t.Errorf("nothing here is PHI: %s", buf.String())
	}
}

func TestIsPHIKey(t *testing.T) {
	cases := map[string]bool{
		"name": true, "Name": true, "family": true, "birth_date": true, "birthDate": true, "BirthDate": true,
		"DOB": true, "patient": true, "patient_name": true, "patientName": true, "subject_name": true,
		"contact_email": true, "home-phone": true, "telecom": true, "identifier": true, "note": true,
		"text": true, "display": true, "url": true, "query": true, "resource": true,
		"job_name": false, "queue_name": false, "connector_name": false, "destination": false,
		"connector": false, "route": false, "resource_type": false, "component": false,
		"transfer_id": false, "status": false, "error": false, "addr": false, "ip_address": false,
		"names_count": false, "patient_id": false, "source": false, "status_text": false,
		"comment_text": true, "clinical_note": true,
	}
	for k, want := range cases {
		if got := IsPHIKey(k); got != want {
			t.Errorf("IsPHIKey(%q) = %v, want %v", k, got, want)
		}
	}
}

type testState int

func (s testState) String() string { return [...]string{"pending", "delivered"}[s] }

type testRef string

func TestRedactKeepsNamedScalars(t *testing.T) {
	var buf bytes.Buffer
	l := New(&buf, "info", "text")
	l.Info("t", "state", testState(1), "ref", testRef("Patient/p1"), "contact", testRef(canaryEmail), "n", uint8(7))
	for _, w := range []string{"state=delivered", "ref=Patient/p1", "contact=[redacted]", "n=7"} {
		if !strings.Contains(buf.String(), w) {
			t.Errorf("want %s in %s", w, buf.String())
		}
	}
}

func TestRedactIsIdempotent(t *testing.T) {
	h := Redact(slog.NewJSONHandler(&bytes.Buffer{}, nil))
	if Redact(h) != h {
		t.Error("Redact wrapped a redacting handler twice")
	}
}
