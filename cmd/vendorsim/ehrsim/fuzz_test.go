package ehrsim_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/switchboard-health/switchboard/cmd/vendorsim/ehrsim"
)

// FuzzRequests throws arbitrary query strings, conditions and bodies at the
// FHIR API: every answer must be a well-formed status, never a panic or 5xx.
func FuzzRequests(f *testing.F) {
	f.Add("identifier=urn:a|1&_count=2", "identifier=urn:a|1", `{"resourceType":"Patient","identifier":[{"system":"urn:a","value":"1"}]}`)
	f.Add("_lastUpdated=gt2026-01-01T00:00:00.1+02:00", "_id=x", `{"resourceType":"Patient","meta":[]}`)
	f.Add("_page=MTc2OTk5OTk5OTAwMDp4&_count=-1", "", `[]`)
	f.Add("_lastUpdated=ge2026", "identifier=|", `{"resourceType":"Patient","identifier":"nope","subject":1}`)
	f.Fuzz(func(t *testing.T, query, cond, body string) {
		h := ehrsim.New(ehrsim.Options{})
		for _, req := range []*http.Request{
			httptest.NewRequest(http.MethodPost, "/fhir/R4/Patient", strings.NewReader(body)),
			httptest.NewRequest(http.MethodPut, "/fhir/R4/Patient/p1", strings.NewReader(body)),
			httptest.NewRequest(http.MethodGet, "/fhir/R4/Patient", nil),
		} {
			req.Header.Set("Content-Type", "application/fhir+json")
			req.Header.Set("If-None-Exist", cond)
			req.URL.RawQuery = query
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code >= 500 {
				t.Fatalf("%s: %d %s", req.Method, w.Code, w.Body)
			}
		}
	})
}
