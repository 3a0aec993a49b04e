package server_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/switchboard-health/switchboard/cmd/vendorsim/calsim"
)

// searchRoutes reads Appointments and Consents from the EHR sandbox and
// Slots from the Cal.com sandbox ({{CALCOM}}).
const searchRoutes = `destinations:
  ehr:
    type: fhir
    config: {base_url: %[1]q}
  scheduling:
    type: calcom
    config: {base_url: "{{CALCOM}}", api_key_env: VENDOR_KEY_FOR_TEST, event_type_id: 1001, time_zone: UTC}
routes:
  - {resource: Patient, to: [ehr]}
reads:
  - {resource: Appointment, from: ehr}
  - {resource: Consent, from: ehr}
  - {resource: Slot, from: scheduling}
`

// TestPassthroughSearchSaysOnlyWhatIsTrue: against the real sandboxes, a
// passthrough search never claims a filter the source did not apply. The
// EHR sandbox ignores actor (and status), as a FHIR server may, and its
// self link says so: the hub refuses the search (strict, the default) or
// answers with a self link without them (lenient). patient is applied as
// FHIR defines it for Appointment, so a patient's search finds exactly
// that patient's appointments. Bad parameters are the client's 400s, and
// the CapabilityStatement lists what each read type can be searched by.
func TestPassthroughSearchSaysOnlyWhatIsTrue(t *testing.T) {
	for _, dialect := range dialects {
		t.Run(dialect, func(t *testing.T) {
			cal := httptest.NewServer(calsim.New(calsim.Options{}))
			t.Cleanup(cal.Close)
			h := startWith(t, dialect, strings.ReplaceAll(searchRoutes, "{{CALCOM}}", cal.URL))
			ids := map[string]string{} // EHR id -> whose
			for whose, actors := range map[string][]string{
				"alex-1": {"Patient/alex", "Practitioner/dr"},
				"alex-2": {"Practitioner/dr", "Patient/alex"},
				"sam":    {"Patient/sam", "Practitioner/dr"},
			} {
				var parts []string
				for _, a := range actors {
					parts = append(parts, `{"actor":{"reference":"`+a+`"},"status":"accepted"}`)
				}
				resp, err := http.Post(h.ehr.URL+"/fhir/R4/Appointment", "application/fhir+json",
					strings.NewReader(`{"resourceType":"Appointment","status":"booked","participant":[`+strings.Join(parts, ",")+`]}`))
				if err != nil {
					t.Fatal(err)
				}
				var created struct{ ID string }
				_ = json.NewDecoder(resp.Body).Decode(&created)
				resp.Body.Close()
				ids[created.ID] = whose
			}
			whose := func(b searchAnswer) []string {
				var out []string
				for _, e := range b.Entry {
					out = append(out, ids[e.Resource.ID])
				}
				sort.Strings(out)
				return out
			}

			// The README's example: exactly that patient's appointments.
			b := h.searchAnswer("/fhir/R4/Appointment?patient=Patient/alex")
			if b.status != 200 || !slices.Equal(whose(b), []string{"alex-1", "alex-2"}) {
				t.Fatalf("Appointment?patient=Patient/alex: %d %v, want alex's two", b.status, whose(b))
			}
			if self := b.selfQuery(t); self.Get("patient") != "Patient/alex" || len(self) != 1 {
				t.Fatalf("self link %v", self)
			}

			// actor is ignored by the EHR: refused, naming it.
			for _, prefer := range []string{"", "handling=strict"} {
				b = h.searchAnswer("/fhir/R4/Appointment?actor=Patient/alex", "Prefer", prefer)
				if b.status != 400 || !slices.Equal(b.expressions(), []string{"actor"}) {
					t.Fatalf("Appointment?actor= (Prefer %q): %d %v, want 400 naming actor", prefer, b.status, b.expressions())
				}
			}
			// Lenient: answered, and the self link claims only what was applied.
			b = h.searchAnswer("/fhir/R4/Appointment?actor=Patient/alex", "Prefer", "handling=lenient")
			if b.status != 200 || len(b.Entry) != 3 || len(b.selfQuery(t)) != 0 {
				t.Fatalf("lenient actor: %d, %d entries, self %v; want every appointment and a self link without parameters",
					b.status, len(b.Entry), b.selfQuery(t))
			}
			b = h.searchAnswer("/fhir/R4/Appointment?patient=Patient/sam&actor=Patient/sam&status=booked", "Prefer", "handling=lenient")
			if self := b.selfQuery(t); b.status != 200 || !slices.Equal(whose(b), []string{"sam"}) || len(self) != 1 || self.Get("patient") != "Patient/sam" {
				t.Fatalf("lenient patient+actor+status: %d %v, self %v; want sam's, self stating patient only", b.status, whose(b), self)
			}
			b = h.searchAnswer("/fhir/R4/Appointment?patient=Patient/sam&actor=Patient/sam&status=booked")
			if b.status != 400 || !slices.Equal(b.expressions(), []string{"actor", "status"}) {
				t.Fatalf("strict patient+actor+status: %d %v, want 400 naming actor and status", b.status, b.expressions())
			}

			// Bad parameters are the client's error, not the vendor's 502.
			if b = h.searchAnswer("/fhir/R4/Slot?family=x"); b.status != 400 || !slices.Equal(b.expressions(), []string{"family"}) {
				t.Fatalf("Slot?family=x: %d %v, want 400 naming family", b.status, b.expressions())
			}
			if b = h.searchAnswer("/fhir/R4/Slot?family=x", "Prefer", "handling=lenient"); b.status != 400 || !slices.Equal(b.expressions(), []string{"start"}) {
				t.Fatalf("Slot?family=x, lenient: %d %v, want 400 naming the missing start", b.status, b.expressions())
			}
			if b = h.searchAnswer("/fhir/R4/Consent?_count=-1"); b.status != 400 || !slices.Equal(b.expressions(), []string{"_count"}) {
				t.Fatalf("Consent?_count=-1: %d %v, want 400 naming _count", b.status, b.expressions())
			}
			if b = h.searchAnswer("/fhir/R4/Appointment?date=sa2026-01-01"); b.status != 400 || !slices.Equal(b.expressions(), []string{"date"}) {
				t.Fatalf("a date the EHR refuses: %d %v, want 400 naming date", b.status, b.expressions())
			}
			if b = h.searchAnswer("/fhir/R4/Slot?start=ge2030-03-05&start=lt2030-03-06"); b.status != 200 || b.selfQuery(t).Get("start") == "" {
				t.Fatalf("a Slot search Cal.com answers: %d", b.status)
			}

			// The CapabilityStatement: search-type and the parameters of each
			// read type, the EHR's from the EHR's own CapabilityStatement.
			r := h.do(http.MethodGet, "/fhir/R4/metadata", "", "")
			var cs struct {
				Rest []struct {
					Resource []struct {
						Type        string
						Interaction []struct{ Code string }
						SearchParam []struct{ Name, Type string }
					}
				}
			}
			if err := json.Unmarshal(r.body, &cs); err != nil || r.status != 200 {
				t.Fatalf("metadata: %d %v %s", r.status, err, r.body)
			}
			got := map[string]string{}
			for _, res := range cs.Rest[0].Resource {
				var parts []string
				for _, in := range res.Interaction {
					parts = append(parts, in.Code)
				}
				for _, p := range res.SearchParam {
					parts = append(parts, p.Name+":"+p.Type)
				}
				got[res.Type] = strings.Join(parts, " ")
			}
			for typ, want := range map[string]string{
				"Appointment": "search-type identifier:token _lastUpdated:date _id:token patient:reference date:date",
				"Consent":     "search-type identifier:token _lastUpdated:date _id:token patient:reference",
				"Slot":        "search-type start:date end:date service-type:token",
				"Patient":     "create update",
			} {
				if got[typ] != want {
					t.Errorf("CapabilityStatement %s: %q, want %q", typ, got[typ], want)
				}
			}
			if strings.Contains(h.logs.String(), "Patient/alex") {
				t.Error("a search parameter reached the hub's log")
			}
		})
	}
}

// searchAnswer is a searchset Bundle or an OperationOutcome.
type searchAnswer struct {
	status int
	Link   []struct{ Relation, URL string }
	Entry  []struct {
		Resource struct{ ID string }
	}
	Issue []struct{ Expression []string }
}

func (h *harness) searchAnswer(path string, header ...string) searchAnswer {
	h.t.Helper()
	r := h.do(http.MethodGet, path, "", "", header...)
	var a searchAnswer
	if err := json.Unmarshal(r.body, &a); err != nil {
		h.t.Fatalf("GET %s: %d %s", path, r.status, r.body)
	}
	a.status = r.status
	return a
}

func (a searchAnswer) selfQuery(t *testing.T) url.Values {
	t.Helper()
	for _, l := range a.Link {
		if l.Relation == "self" {
			u, err := url.Parse(l.URL)
			if err != nil {
				t.Fatal(err)
			}
			return u.Query()
		}
	}
	t.Fatalf("no self link: %+v", a)
	return nil
}

func (a searchAnswer) expressions() []string {
	var out []string
	for _, is := range a.Issue {
		out = append(out, is.Expression...)
	}
	return out
}
