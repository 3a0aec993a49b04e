package ehrsim_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"

	"github.com/switchboard-health/switchboard/cmd/vendorsim/ehrsim"
)

type searchset struct {
	ResourceType string `json:"resourceType"`
	Type         string `json:"type"`
	Total        int    `json:"total"`
	Link         []struct {
		Relation string `json:"relation"`
		URL      string `json:"url"`
	} `json:"link"`
	Entry []struct {
		FullURL  string `json:"fullUrl"`
		Resource struct {
			ID   string `json:"id"`
			Meta struct {
				LastUpdated string `json:"lastUpdated"`
			} `json:"meta"`
		} `json:"resource"`
	} `json:"entry"`
}

func (b searchset) next() string {
	for _, l := range b.Link {
		if l.Relation == "next" {
			return l.URL
		}
	}
	return ""
}

func (b searchset) ids() []string {
	var out []string
	for _, e := range b.Entry {
		out = append(out, e.Resource.ID)
	}
	return out
}

// searchURL fetches an absolute URL (a next link) or a path under the base.
func (s *sandbox) search(u string) searchset {
	s.t.Helper()
	if strings.HasPrefix(u, s.fhir) {
		u = strings.TrimPrefix(u, s.fhir)
	}
	r := s.do(http.MethodGet, u, "")
	if r.status != http.StatusOK {
		s.t.Fatalf("GET %s: %d %s", u, r.status, r.body)
	}
	var b searchset
	if err := json.Unmarshal(r.body, &b); err != nil {
		s.t.Fatal(err)
	}
	if b.ResourceType != "Bundle" || b.Type != "searchset" {
		s.t.Fatalf("not a searchset Bundle: %s", r.body)
	}
	return b
}

func TestSearchByIdentifier(t *testing.T) {
	s := newSandbox(t, ehrsim.Options{})
	s.do(http.MethodPost, "/Patient", patient("urn:a", "1", "A1"))
	s.do(http.MethodPost, "/Patient", patient("urn:a", "2", "A2"))
	s.do(http.MethodPost, "/Patient", patient("urn:b", "1", "B1"))
	s.do(http.MethodPost, "/Observation", `{"resourceType":"Observation","identifier":[{"system":"urn:a","value":"1"}]}`)
	tests := []struct {
		query string
		want  int
	}{
		{"identifier=" + url.QueryEscape("urn:a|1"), 1},
		{"identifier=urn:a|1", 1}, // unescaped, as curl users type it
		{"identifier=1", 2},       // any system
		{"identifier=urn:a|", 2},  // any value in the system
		{"identifier=urn:a|1,urn:b|1", 2},
		{"identifier=urn:a|9", 0},
		{"identifier=urn:a|1&identifier=urn:b|1", 0}, // AND across parameters
		{"unknown=ignored&identifier=urn:a|2", 1},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			b := s.search("/Patient?" + tc.query)
			if b.Total != tc.want || len(b.Entry) != tc.want {
				t.Fatalf("total %d, entries %d, want %d", b.Total, len(b.Entry), tc.want)
			}
			for _, e := range b.Entry {
				if e.FullURL != s.fhir+"/Patient/"+e.Resource.ID {
					t.Errorf("fullUrl %s", e.FullURL)
				}
			}
		})
	}
	if r := s.do(http.MethodGet, "/Patient?unknown=1", "", "Prefer", "handling=strict"); r.status != 400 {
		t.Errorf("strict handling of an unknown parameter: %d", r.status)
	}
}

func TestSearchByLastUpdated(t *testing.T) {
	s := newSandbox(t, ehrsim.Options{})
	var stamps []string
	for i := range 6 {
		m := s.do(http.MethodPost, "/Encounter", `{"resourceType":"Encounter","status":"finished"}`).json(t)
		_, lu := meta(t, m)
		stamps = append(stamps, lu)
		_ = i
	}
	mid := stamps[2] // the third resource
	tests := []struct {
		query string
		want  int
	}{
		{"_lastUpdated=gt" + mid, 3},
		{"_lastUpdated=ge" + mid, 4},
		{"_lastUpdated=lt" + mid, 2},
		{"_lastUpdated=le" + mid, 3},
		{"_lastUpdated=" + mid, 1},
		{"_lastUpdated=ge" + stamps[1] + "&_lastUpdated=lt" + stamps[4], 3},
		{"_lastUpdated=gt2000-01-01T00:00:00Z", 6},
		{"_lastUpdated=gt2000-01-01", 6},
		{"_lastUpdated=gt2999-01-01T00:00:00Z", 0},
		{"_lastUpdated=gt" + strings.Replace(mid, "Z", "+00:00", 1), 3}, // an unescaped + arrives as a space
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			if b := s.search("/Encounter?" + tc.query); b.Total != tc.want {
				t.Fatalf("total %d, want %d (stamps %v)", b.Total, tc.want, stamps)
			}
		})
	}
	// An update moves a resource to the end of the order.
	b := s.search("/Encounter")
	first := b.Entry[0].Resource.ID
	s.do(http.MethodPut, "/Encounter/"+first, `{"resourceType":"Encounter","id":"`+first+`","status":"cancelled"}`)
	after := s.search("/Encounter?_lastUpdated=gt" + stamps[5])
	if ids := after.ids(); len(ids) != 1 || ids[0] != first {
		t.Fatalf("changed since the last create: %v, want [%s]", ids, first)
	}
}

// A poller pages through 25 resources ten at a time by following next links
// and sees each exactly once, in lastUpdated order, even while more arrive.
func TestSearchPagesThroughNextLinks(t *testing.T) {
	for _, tc := range []struct {
		name     string
		midPoll  bool
		wantSeen int
	}{{"quiet", false, 25}, {"a write arrives mid-poll", true, 26}} {
		t.Run(tc.name, func(t *testing.T) { pageThrough(t, tc.midPoll, tc.wantSeen) })
	}
}

func pageThrough(t *testing.T, midPoll bool, wantSeen int) {
	s := newSandbox(t, ehrsim.Options{})
	created := map[string]bool{}
	for i := range 25 {
		m := s.do(http.MethodPost, "/Appointment", fmt.Sprintf(`{"resourceType":"Appointment","status":"booked","identifier":[{"system":"urn:appt","value":"%d"}]}`, i)).json(t)
		created[m["id"].(string)] = true
	}
	seen := map[string]int{}
	var order []string
	pages := 0
	for u := "/Appointment?_lastUpdated=gt2000-01-01T00:00:00.000Z&_count=10"; u != ""; pages++ {
		b := s.search(u)
		if want := len(created); b.Total != want {
			t.Fatalf("page %d: total %d, want %d", pages, b.Total, want)
		}
		for _, e := range b.Entry {
			seen[e.Resource.ID]++
			order = append(order, e.Resource.Meta.LastUpdated+" "+e.Resource.ID)
		}
		u = b.next()
		if pages == 0 && midPoll {
			// A resource written mid-poll sorts after everything already
			// paged, so it shows up on a later page rather than shifting
			// an offset.
			m := s.do(http.MethodPost, "/Appointment", `{"resourceType":"Appointment","status":"booked"}`).json(t)
			created[m["id"].(string)] = true
		}
		if pages > 10 {
			t.Fatal("paging does not end")
		}
	}
	if pages != 3 {
		t.Errorf("%d pages, want 3", pages)
	}
	if len(seen) != wantSeen || len(seen) != len(created) {
		t.Errorf("saw %d distinct resources, created %d, want %d", len(seen), len(created), wantSeen)
	}
	for id, n := range seen {
		if n != 1 || !created[id] {
			t.Errorf("%s seen %d times", id, n)
		}
	}
	for i := 1; i < len(order); i++ {
		if order[i] <= order[i-1] {
			t.Errorf("out of order at %d: %s after %s", i, order[i], order[i-1])
		}
	}
	if r := s.do(http.MethodGet, "/Appointment?_page=not-a-token", ""); r.status != 400 {
		t.Errorf("forged page token: %d", r.status)
	}
	if b := s.search("/Appointment?_count=0"); b.Total != wantSeen || len(b.Entry) != 0 || b.next() != "" {
		t.Errorf("_count=0: total %d, %d entries, next %q", b.Total, len(b.Entry), b.next())
	}
}

func TestSearchByPatientReference(t *testing.T) {
	s := newSandbox(t, ehrsim.Options{})
	s.do(http.MethodPost, "/Observation", `{"resourceType":"Observation","subject":{"reference":"Patient/p1"}}`)
	s.do(http.MethodPost, "/Observation", `{"resourceType":"Observation","subject":{"reference":"Patient/p2"}}`)
	s.do(http.MethodPost, "/Appointment", `{"resourceType":"Appointment","participant":[]}`)
	for q, want := range map[string]int{"patient=p1": 1, "patient=Patient/p2": 1, "subject=Patient/p1,Patient/p2": 2, "patient=p3": 0} {
		if b := s.search("/Observation?" + q); b.Total != want {
			t.Errorf("%s: total %d, want %d", q, b.Total, want)
		}
	}
}

// TestSearchAppointmentByPatient: FHIR R4 defines Appointment's patient
// parameter as participant.actor.where(resolve() is Patient), so a search
// finds a patient's appointments by their participants (not a subject
// element, which Appointment does not have), and a practitioner with the
// same id is no match. Consent's patient is Consent.patient, Coverage's the
// beneficiary; Appointment has no subject parameter.
func TestSearchAppointmentByPatient(t *testing.T) {
	s := newSandbox(t, ehrsim.Options{})
	appt := func(actors ...string) string {
		var parts []string
		for _, a := range actors {
			parts = append(parts, `{"actor":{"reference":"`+a+`"},"status":"accepted"}`)
		}
		return `{"resourceType":"Appointment","status":"booked","participant":[` + strings.Join(parts, ",") + `]}`
	}
	ids := map[string]string{} // id -> name
	for name, body := range map[string]string{
		"alex-1":    appt("Patient/alex", "Practitioner/dr"),
		"alex-2":    appt("Practitioner/dr", "http://other.example/fhir/Patient/alex"),
		"sam":       appt("Patient/sam", "Practitioner/dr"),
		"alex-name": appt("Practitioner/alex"), // the same id, not a Patient
	} {
		ids[s.do(http.MethodPost, "/Appointment", body).json(t)["id"].(string)] = name
	}
	s.do(http.MethodPost, "/Consent", `{"resourceType":"Consent","status":"active","patient":{"reference":"Patient/alex"}}`)
	s.do(http.MethodPost, "/Coverage", `{"resourceType":"Coverage","status":"active","beneficiary":{"reference":"Patient/alex"}}`)
	for q, want := range map[string][]string{
		"patient=Patient/alex":             {"alex-1", "alex-2"},
		"patient=alex":                     {"alex-1", "alex-2"},
		"patient=Patient/sam":              {"sam"},
		"patient=Patient/alex,Patient/sam": {"alex-1", "alex-2", "sam"},
		"patient=Patient/nobody":           nil,
	} {
		b := s.search("/Appointment?" + q)
		var got []string
		for _, id := range b.ids() {
			got = append(got, ids[id])
		}
		sort.Strings(got)
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("Appointment?%s: %v, want %v", q, got, want)
		}
	}
	for _, typ := range []string{"Consent", "Coverage"} {
		if b := s.search("/" + typ + "?patient=Patient/alex"); b.Total != 1 {
			t.Errorf("%s?patient=Patient/alex: %d, want 1", typ, b.Total)
		}
	}
	// Appointment has no subject parameter: ignored, as any other.
	if b := s.search("/Appointment?subject=Patient/sam"); b.Total != 4 {
		t.Errorf("Appointment?subject= is not a filter: %d, want all 4", b.Total)
	}
}

// TestSearchSelfLinkStatesWhatWasApplied: a parameter the sandbox does not
// serve (actor, a real Appointment parameter) is ignored, as real servers
// ignore it, and the self link leaves it out, which is how a client (the
// hub) can tell; Prefer: handling=strict refuses it, naming it.
func TestSearchSelfLinkStatesWhatWasApplied(t *testing.T) {
	s := newSandbox(t, ehrsim.Options{})
	s.do(http.MethodPost, "/Appointment", `{"resourceType":"Appointment","status":"booked","participant":[{"actor":{"reference":"Patient/a"},"status":"accepted"}]}`)
	s.do(http.MethodPost, "/Appointment", `{"resourceType":"Appointment","status":"booked","participant":[{"actor":{"reference":"Patient/b"},"status":"accepted"}]}`)
	b := s.search("/Appointment?actor=Patient/a&_count=5&date=ge2000-01-01&patient=Patient/a,Patient/b")
	var self string
	for _, l := range b.Link {
		if l.Relation == "self" {
			self = l.URL
		}
	}
	u, err := url.Parse(self)
	if err != nil {
		t.Fatal(err)
	}
	if got := u.Query(); got.Has("actor") || got.Get("patient") != "Patient/a,Patient/b" || got.Get("_count") != "5" || got.Get("date") != "ge2000-01-01" {
		t.Errorf("self link %s: must state patient, date and _count, not actor", self)
	}
	if b.Total != 0 {
		t.Errorf("both appointments have no start: date=ge2000 matches none, got %d", b.Total)
	}
	r := s.do(http.MethodGet, "/Appointment?actor=Patient/a", "", "Prefer", "handling=strict")
	issues, _ := r.json(t)["issue"].([]any)
	if r.status != 400 || len(issues) != 1 || fmt.Sprint(issues[0].(map[string]any)["expression"]) != "[actor]" {
		t.Errorf("strict: %d %s, want 400 naming actor", r.status, r.body)
	}
	var cs struct {
		Rest []struct {
			Resource []struct {
				Type        string
				SearchParam []struct{ Name, Type string }
			}
		}
	}
	if err := json.Unmarshal(s.do(http.MethodGet, "/metadata", "").body, &cs); err != nil {
		t.Fatal(err)
	}
	declared := map[string]string{}
	for _, r := range cs.Rest[0].Resource {
		var names []string
		for _, p := range r.SearchParam {
			names = append(names, p.Name)
		}
		declared[r.Type] = strings.Join(names, " ")
	}
	for typ, want := range map[string]string{
		"Appointment": "identifier _lastUpdated _id patient date",
		"Observation": "identifier _lastUpdated _id patient subject",
		"Patient":     "identifier _lastUpdated _id",
	} {
		if declared[typ] != want {
			t.Errorf("CapabilityStatement: %s searches %q, want %q", typ, declared[typ], want)
		}
	}
}

// TestSearchAppointmentsByDate: the hub's drift repair asks for the
// appointments starting in a window (date=ge…&date=lt…); the window's
// bounds and each value's precision decide what is in it, whatever the
// start's time zone, and paging keeps the parameters.
func TestSearchAppointmentsByDate(t *testing.T) {
	s := newSandbox(t, ehrsim.Options{})
	starts := map[string]string{
		"before":   "2026-11-30T23:59:59Z",
		"first":    "2026-12-01T00:00:00Z",
		"noon":     "2026-12-01T12:00:00.250Z",
		"offset":   "2026-12-01T20:00:00-05:00", // 2026-12-02T01:00:00Z
		"week-end": "2026-12-07T23:59:59.999Z",
		"after":    "2026-12-08T00:00:00Z",
	}
	ids := map[string]string{} // id -> name
	for name, start := range starts {
		m := s.do(http.MethodPost, "/Appointment", `{"resourceType":"Appointment","status":"booked","start":"`+start+`"}`).json(t)
		ids[m["id"].(string)] = name
	}
	s.do(http.MethodPost, "/Appointment", `{"resourceType":"Appointment","status":"proposed"}`) // no start: never in a window
	tests := []struct {
		query string
		want  []string
	}{
		{"date=ge2026-12-01&date=lt2026-12-08", []string{"first", "noon", "offset", "week-end"}},
		{"date=ge2026-12-01T00:00:00Z&date=lt2026-12-08T00:00:00Z", []string{"first", "noon", "offset", "week-end"}},
		{"date=2026-12-01", []string{"first", "noon"}},
		{"date=eq2026-12-02", []string{"offset"}},
		{"date=gt2026-12-01", []string{"offset", "week-end", "after"}},
		{"date=le2026-12-01", []string{"before", "first", "noon"}},
		{"date=lt2026-12-01T00:00:00.000Z", []string{"before"}},
		{"date=ge2026-12-01T12:00:00.250Z", []string{"noon", "offset", "week-end", "after"}},
		{"date=gt2026-12-01T12:00:00.250Z", []string{"offset", "week-end", "after"}},
		{"date=2026-12", []string{"first", "noon", "offset", "week-end", "after"}},
		{"date=lt2000-01-01", nil},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			b := s.search("/Appointment?" + tc.query)
			got := map[string]bool{}
			for _, id := range b.ids() {
				got[ids[id]] = true
			}
			if b.Total != len(tc.want) || len(got) != len(tc.want) {
				t.Fatalf("found %v, want %v", got, tc.want)
			}
			for _, w := range tc.want {
				if !got[w] {
					t.Errorf("%s missing; found %v", w, got)
				}
			}
		})
	}
	// The window survives paging: the next link carries both bounds.
	first := s.search("/Appointment?date=ge2026-12-01&date=lt2026-12-08&_count=3")
	if len(first.Entry) != 3 || first.next() == "" {
		t.Fatalf("first page: %d entries, next %q", len(first.Entry), first.next())
	}
	if rest := s.search(first.next()); rest.Total != 4 || len(rest.Entry) != 1 || rest.next() != "" {
		t.Fatalf("second page: total %d, %d entries, next %q", rest.Total, len(rest.Entry), rest.next())
	}
	if r := s.do(http.MethodGet, "/Appointment?date=sa2026-12-01", ""); r.status != 400 || issueCode(t, r) != "not-supported" {
		t.Errorf("unsupported prefix: %d %s", r.status, r.body)
	}
	// date is Appointment's only: elsewhere it is an unknown parameter.
	if r := s.do(http.MethodGet, "/Encounter?date=2026-12-01", "", "Prefer", "handling=strict"); r.status != 400 {
		t.Errorf("date on Encounter under strict handling: %d", r.status)
	}
	var cs struct {
		Rest []struct {
			Resource []struct {
				Type        string
				SearchParam []struct{ Name, Type string }
			}
		}
	}
	if err := json.Unmarshal(s.do(http.MethodGet, "/metadata", "").body, &cs); err != nil {
		t.Fatal(err)
	}
	declared := map[string]bool{}
	for _, r := range cs.Rest[0].Resource {
		for _, p := range r.SearchParam {
			if p.Name == "date" && p.Type == "date" {
				declared[r.Type] = true
			}
		}
	}
	if !declared["Appointment"] || declared["Encounter"] {
		t.Errorf("CapabilityStatement declares date on %v, want Appointment only", declared)
	}
}
