package ehrsim_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-health/switchboard/cmd/vendorsim/ehrsim"
)

func TestCreateAssignsIDVersionAndLocation(t *testing.T) {
	s := newSandbox(t, ehrsim.Options{})
	body := `{"resourceType":"Observation","id":"client-chosen","meta":{"tag":[{"system":"https://switchboard.example/origin","code":"hub"}]},"status":"final","code":{"text":"x"},"valueQuantity":{"value":1.50,"unit":"kg"}}`
	r := s.do(http.MethodPost, "/Observation", body)
	if r.status != http.StatusCreated {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	m := r.json(t)
	id, _ := m["id"].(string)
	if !regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(id) {
		t.Fatalf("server id %q: want 16 hex characters (the client's id is ignored on create)", id)
	}
	vid, lu := meta(t, m)
	if vid != "1" {
		t.Errorf("versionId %q, want 1", vid)
	}
	if ts, err := time.Parse(time.RFC3339, lu); err != nil || !strings.HasSuffix(lu, "Z") || len(lu) != len("2006-01-02T15:04:05.000Z") {
		t.Errorf("lastUpdated %q: want RFC 3339 UTC with milliseconds (%v, %v)", lu, ts, err)
	}
	if want := s.fhir + "/Observation/" + id + "/_history/1"; r.header.Get("Location") != want {
		t.Errorf("Location %q, want %q", r.header.Get("Location"), want)
	}
	if r.header.Get("ETag") != `W/"1"` {
		t.Errorf("ETag %q", r.header.Get("ETag"))
	}
	if !strings.Contains(string(r.body), `"value":1.50`) {
		t.Errorf("decimal precision lost: %s", r.body)
	}
	if !strings.Contains(string(r.body), `"code":"hub"`) {
		t.Errorf("the client's meta.tag was dropped: %s", r.body)
	}
	if !strings.HasPrefix(string(r.body), `{"resourceType":"Observation","id":`) {
		t.Errorf("resourceType and id should lead: %s", r.body)
	}

	// Read it back, by id and by the Location's version.
	for _, path := range []string{"/Observation/" + id, "/Observation/" + id + "/_history/1"} {
		g := s.do(http.MethodGet, path, "")
		if g.status != http.StatusOK || string(g.body) != string(r.body) {
			t.Errorf("GET %s: %d %s", path, g.status, g.body)
		}
	}
}

func TestUpdateAndUpsert(t *testing.T) {
	s := newSandbox(t, ehrsim.Options{})
	created := s.do(http.MethodPost, "/Patient", patient("urn:mrn", "1", "A")).json(t)
	id := created["id"].(string)

	tests := []struct {
		name        string
		path        string
		body        string
		header      []string
		wantStatus  int
		wantVersion string
		wantEffect  ehrsim.Effect
	}{
		{"update an existing id", "/Patient/" + id, `{"resourceType":"Patient","id":"` + id + `","active":true}`, nil, 200, "2", ehrsim.EffectUpdated},
		{"update with the current version in If-Match", "/Patient/" + id, `{"resourceType":"Patient","id":"` + id + `"}`, []string{"If-Match", `W/"2"`}, 200, "3", ehrsim.EffectUpdated},
		{"update with a stale If-Match", "/Patient/" + id, `{"resourceType":"Patient","id":"` + id + `"}`, []string{"If-Match", `W/"1"`}, 412, "", ehrsim.EffectRejected},
		{"upsert a new id", "/Patient/chosen-by-client", `{"resourceType":"Patient","id":"chosen-by-client"}`, nil, 201, "1", ehrsim.EffectCreated},
		{"upsert it again", "/Patient/chosen-by-client", `{"resourceType":"Patient","id":"chosen-by-client","active":false}`, nil, 200, "2", ehrsim.EffectUpdated},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := s.do(http.MethodPut, tc.path, tc.body, tc.header...)
			if r.status != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", r.status, tc.wantStatus, r.body)
			}
			l := s.log("")
			if got := l.Requests[len(l.Requests)-1].Effect; got != tc.wantEffect {
				t.Errorf("effect %q, want %q", got, tc.wantEffect)
			}
			if tc.wantVersion == "" {
				return
			}
			if vid, _ := meta(t, r.json(t)); vid != tc.wantVersion {
				t.Errorf("versionId %q, want %q", vid, tc.wantVersion)
			}
			if (r.status == 201) != (r.header.Get("Location") != "") {
				t.Errorf("Location %q on %d", r.header.Get("Location"), r.status)
			}
		})
	}
	// Every version stays readable.
	if r := s.do(http.MethodGet, "/Patient/"+id+"/_history/1", ""); r.status != 200 || !strings.Contains(string(r.body), `"family":"A"`) {
		t.Errorf("vread 1: %d %s", r.status, r.body)
	}
}

func TestBadRequestsAnswerOperationOutcomes(t *testing.T) {
	s := newSandbox(t, ehrsim.Options{})
	tests := []struct {
		name        string
		method      string
		path        string
		body        string
		contentType string
		wantStatus  int
		wantCode    string
	}{
		{"not JSON", "POST", "/Patient", `{"resourceType":`, "", 400, "structure"},
		{"JSON but not an object", "POST", "/Patient", `["Patient"]`, "", 400, "structure"},
		{"trailing data", "POST", "/Patient", `{"resourceType":"Patient"} {}`, "", 400, "structure"},
		{"no resourceType", "POST", "/Patient", `{"id":"x"}`, "", 400, "required"},
		{"resourceType differs from the URL", "POST", "/Patient", `{"resourceType":"Observation"}`, "", 400, "invalid"},
		{"update without an id in the body", "PUT", "/Patient/p1", `{"resourceType":"Patient"}`, "", 400, "required"},
		{"update with another id in the body", "PUT", "/Patient/p1", `{"resourceType":"Patient","id":"p2"}`, "", 400, "invalid"},
		{"form content type", "POST", "/Patient", `{"resourceType":"Patient"}`, "application/x-www-form-urlencoded", 415, "not-supported"},
		{"read of an unknown id", "GET", "/Patient/nope", "", "", 404, "not-found"},
		{"vread of an unknown version", "GET", "/Patient/nope/_history/2", "", "", 404, "not-found"},
		{"lower-case type", "GET", "/patient", "", "", 404, "not-supported"},
		{"delete", "DELETE", "/Patient/p1", "", "", 405, "not-supported"},
		{"unknown _lastUpdated prefix", "GET", "/Patient?_lastUpdated=sa2026-01-01", "", "", 400, "not-supported"},
		{"If-None-Exist on a parameter it cannot match", "POST", "/Patient", `{"resourceType":"Patient"}`, "", 400, "invalid"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var h []string
			if tc.contentType != "" {
				h = append(h, "Content-Type", tc.contentType)
			}
			if strings.HasPrefix(tc.name, "If-None-Exist") {
				h = append(h, "If-None-Exist", "name=Smith")
			}
			r := s.do(tc.method, tc.path, tc.body, h...)
			if r.status != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", r.status, tc.wantStatus, r.body)
			}
			if got := issueCode(t, r); got != tc.wantCode {
				t.Errorf("issue code %q, want %q: %s", got, tc.wantCode, r.body)
			}
		})
	}
	if st := s.sim.Stats(); st.Resources != 0 || st.Effects != 0 {
		t.Errorf("bad requests changed data: %+v", st)
	}
}

func TestPlainJSONIsAccepted(t *testing.T) {
	s := newSandbox(t, ehrsim.Options{})
	r := s.do(http.MethodPost, "/Patient", `{"resourceType":"Patient"}`, "Content-Type", "application/json; charset=utf-8")
	if r.status != http.StatusCreated {
		t.Fatalf("%d %s", r.status, r.body)
	}
}

func TestMetadataIsACapabilityStatement(t *testing.T) {
	s := newSandbox(t, ehrsim.Options{})
	s.do(http.MethodPost, "/Practitioner", `{"resourceType":"Practitioner"}`)
	r := s.do(http.MethodGet, "/metadata", "")
	m := r.json(t)
	if r.status != 200 || m["resourceType"] != "CapabilityStatement" || m["fhirVersion"] != "4.0.1" {
		t.Fatalf("%d %s", r.status, r.body)
	}
	for _, typ := range []string{`"type":"Patient"`, `"type":"Practitioner"`} {
		if !strings.Contains(string(r.body), typ) {
			t.Errorf("CapabilityStatement lacks %s", typ)
		}
	}
}
