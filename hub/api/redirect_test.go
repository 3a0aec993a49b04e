package api

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The plain-HTTP listener sends a browser to the public HTTPS URL (never to
// the Host it was sent) and refuses what would carry a token or a write.
func TestRedirectToHTTPS(t *testing.T) {
	srv := httptest.NewServer(RedirectToHTTPS("https://hub.example.com"))
	defer srv.Close()
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	do := func(method, path string, header ...string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(`{"resourceType":"Patient"}`))
		req.Host = "attacker.example"
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := noFollow.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	for _, m := range []string{http.MethodGet, http.MethodHead} {
		resp := do(m, "/console/?tab=health")
		if resp.StatusCode != http.StatusPermanentRedirect || resp.Header.Get("Location") != "https://hub.example.com/console/?tab=health" {
			t.Errorf("%s: %d Location %q", m, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	for name, resp := range map[string]*http.Response{
		"a write":                do(http.MethodPost, "/fhir/R4/Patient", "Content-Type", "application/fhir+json"),
		"a read with a token":    do(http.MethodGet, "/fhir/R4/Appointment", "Authorization", "Bearer sb_cl_x"),
		"an update with a token": do(http.MethodPut, "/fhir/R4/Patient/1", "Authorization", "Bearer sb_cl_x"),
	} {
		if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Location") != "" ||
			resp.Header.Get("Content-Type") != "application/fhir+json" {
			t.Errorf("%s over plain HTTP: %d Location %q", name, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
}
