package consent_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/switchboard-health/switchboard/cmd/vendorsim/ehrsim"
	"github.com/switchboard-health/switchboard/connectors"
	"github.com/switchboard-health/switchboard/connectors/fhir"
	"github.com/switchboard-health/switchboard/hub/consent"
	"github.com/switchboard-health/switchboard/hub/delivery"
)

// ehr is the EHR sandbox behind the real FHIR connector: the gate asks it
// exactly as it would ask a production EHR.
func ehr(t *testing.T, sim *ehrsim.Server) connectors.Connector {
	t.Helper()
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	c, err := fhir.New(connectors.Params{Name: "ehr", Logger: slog.New(slog.DiscardHandler),
		Decode: func(into any) error {
			return yaml.Unmarshal([]byte(`{base_url: "`+srv.URL+`/fhir/R4", retry_max: -1}`), into)
		},
		Env: func(string) (string, bool) { return "", false }})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func create(t *testing.T, c connectors.Connector, typ, body string) string {
	t.Helper()
	r, err := c.Deliver(context.Background(), connectors.Delivery{Interaction: connectors.Create, ResourceType: typ, Resource: []byte(body), IdempotencyKey: body})
	if err != nil {
		t.Fatal(err)
	}
	return r.VendorID
}

const mrn = "https://clinic.example/mrn"

func consentFor(patientID, status, typ, code, period string) string {
	prov := `"type":"` + typ + `","purpose":[{"system":"` + consent.ActReason + `","code":"` + code + `"}]`
	if period != "" {
		prov += `,"period":` + period
	}
	return `{"resourceType":"Consent","status":"` + status + `","scope":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/consentscope","code":"patient-privacy"}]},` +
		`"category":[{"coding":[{"system":"http://loinc.org","code":"59284-0"}]}],"patient":{"reference":"Patient/` + patientID + `"},"provision":{` + prov + `}}`
}

func TestGateAsksTheEHR(t *testing.T) {
	c := ehr(t, ehrsim.New(ehrsim.Options{}))
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	patients := map[string]string{}
	for _, m := range []string{"granted", "none", "other-purpose", "inactive", "deny", "expired", "future", "open-ended", "opted-out-later", "opted-in-again"} {
		patients[m] = create(t, c, "Patient", `{"resourceType":"Patient","identifier":[{"system":"`+mrn+`","value":"`+m+`"}]}`)
	}
	create(t, c, "Consent", consentFor(patients["granted"], "active", "permit", "HMARKT", `{"start":"2026-01-01","end":"2027"}`))
	create(t, c, "Consent", consentFor(patients["other-purpose"], "active", "permit", "HRESCH", ""))
	create(t, c, "Consent", consentFor(patients["inactive"], "inactive", "permit", "HMARKT", ""))
	create(t, c, "Consent", consentFor(patients["deny"], "active", "deny", "HMARKT", ""))
	create(t, c, "Consent", consentFor(patients["expired"], "active", "permit", "HMARKT", `{"end":"2026-10"}`))
	create(t, c, "Consent", consentFor(patients["future"], "active", "permit", "HMARKT", `{"start":"2026-12-01T00:00:00Z"}`))
	create(t, c, "Consent", consentFor(patients["open-ended"], "active", "permit", "HMARKT", `{"start":"2026"}`))
	// The latest decision counts (no dateTime here: meta.lastUpdated orders them).
	create(t, c, "Consent", consentFor(patients["opted-out-later"], "active", "permit", "HMARKT", ""))
	create(t, c, "Consent", consentFor(patients["opted-out-later"], "active", "deny", "HMARKT", ""))
	create(t, c, "Consent", consentFor(patients["opted-in-again"], "active", "deny", "HMARKT", ""))
	create(t, c, "Consent", consentFor(patients["opted-in-again"], "active", "permit", "HMARKT", ""))

	g := &consent.Gate{Purpose: "HMARKT", Source: c.(connectors.Searcher), Now: func() time.Time { return now }}
	byIdent := func(v string) *delivery.Subject {
		return &delivery.Subject{ID: "client-side-id", Identifiers: []delivery.Identifier{{System: mrn, Value: v}}}
	}
	cases := []struct {
		name    string
		subject *delivery.Subject
		allowed bool
		reason  string
	}{
		{"active permit for marketing, in period", byIdent("granted"), true, ""},
		{"by the EHR id when there is no identifier", &delivery.Subject{ID: patients["granted"]}, true, ""},
		{"open-ended period", byIdent("open-ended"), true, ""},
		{"no consent at all", byIdent("none"), false, consent.ReasonNoConsent},
		{"consent for another purpose", byIdent("other-purpose"), false, consent.ReasonNoConsent},
		{"inactive consent", byIdent("inactive"), false, consent.ReasonNoConsent},
		{"a deny provision", byIdent("deny"), false, consent.ReasonNoConsent},
		{"a permit, then an opt-out (an unsubscribe)", byIdent("opted-out-later"), false, consent.ReasonNoConsent},
		{"an opt-out, then a permit", byIdent("opted-in-again"), true, ""},
		{"expired", byIdent("expired"), false, consent.ReasonNoConsent},
		{"not yet in force", byIdent("future"), false, consent.ReasonNoConsent},
		{"unknown at the EHR", &delivery.Subject{Identifiers: []delivery.Identifier{{System: mrn, Value: "nobody"}}}, false, consent.ReasonNoPatient},
		{"no subject", nil, false, consent.ReasonNoSubject},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ok, reason, err := g.Allow(context.Background(), tc.subject)
			if err != nil || ok != tc.allowed || reason != tc.reason {
				t.Fatalf("allowed=%v reason=%q err=%v, want %v %q", ok, reason, err, tc.allowed, tc.reason)
			}
		})
	}
}

// TestGateWaitsWhenTheEHRCannotAnswer: an EHR that fails is a retryable
// failure of the delivery, never a silent send and never a final skip.
func TestGateWaitsWhenTheEHRCannotAnswer(t *testing.T) {
	sim := ehrsim.New(ehrsim.Options{})
	c := ehr(t, sim)
	if err := sim.SetFaults(ehrsim.Faults{FailReadsNext: 5}); err != nil {
		t.Fatal(err)
	}
	g := &consent.Gate{Purpose: "HMARKT", Source: c.(connectors.Searcher)}
	ok, _, err := g.Allow(context.Background(), &delivery.Subject{ID: "p1"})
	if ok || connectors.ClassOf(err) != connectors.Retryable {
		t.Fatalf("allowed=%v err=%v: want a retryable failure", ok, err)
	}
	var ce *connectors.Error
	if !errors.As(err, &ce) || ce.Code[:len("consent_lookup")] != "consent_lookup" {
		t.Fatalf("code: %v", err)
	}
}

// TestGateRefusesAnAnswerThatIgnoredItsFilter: an EHR that ignores
// Consent?patient= (here the sandbox behind a proxy that drops the
// parameter, so its self link states none) answers with every patient's
// Consents; another patient's permit must not let this one's marketing
// through. The gate fails, retryably, as for any EHR that cannot answer.
func TestGateRefusesAnAnswerThatIgnoredItsFilter(t *testing.T) {
	sim := ehrsim.New(ehrsim.Options{})
	direct := ehr(t, sim)
	granted := create(t, direct, "Patient", `{"resourceType":"Patient","identifier":[{"system":"`+mrn+`","value":"granted"}]}`)
	none := create(t, direct, "Patient", `{"resourceType":"Patient","identifier":[{"system":"`+mrn+`","value":"none"}]}`)
	create(t, direct, "Consent", consentFor(granted, "active", "permit", "HMARKT", ""))

	for _, dropped := range []string{"patient", "identifier"} {
		t.Run("ignores "+dropped, func(t *testing.T) {
			ignoring := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				q := r.URL.Query()
				q.Del(dropped)
				r.URL.RawQuery = q.Encode()
				sim.ServeHTTP(w, r)
			}))
			t.Cleanup(ignoring.Close)
			c, err := fhir.New(connectors.Params{Name: "ehr", Logger: slog.New(slog.DiscardHandler),
				Decode: func(into any) error {
					return yaml.Unmarshal([]byte(`{base_url: "`+ignoring.URL+`/fhir/R4", retry_max: -1}`), into)
				},
				Env: func(string) (string, bool) { return "", false }})
			if err != nil {
				t.Fatal(err)
			}
			g := &consent.Gate{Purpose: "HMARKT", Source: c.(connectors.Searcher)}
			ok, reason, err := g.Allow(context.Background(), &delivery.Subject{ID: none,
				Identifiers: []delivery.Identifier{{System: mrn, Value: "none"}}})
			var ce *connectors.Error
			if ok || connectors.ClassOf(err) != connectors.Retryable || !errors.As(err, &ce) || !strings.Contains(ce.Code, "search_param_ignored") {
				t.Fatalf("allowed=%v reason=%q err=%v: want a retryable search_param_ignored", ok, reason, err)
			}
		})
	}
}
