package api

import (
	"net/http"
	"strings"
	"testing"
)

// Every answer, JSON ones first (OperationOutcomes, transfer status, admin,
// audit, the CapabilityStatement, health), carries nosniff and no-store;
// River UI's pages also a Content-Security-Policy and frame denial; no HSTS
// over plain HTTP (hub/server's TLS test checks it is there over TLS).
func TestSecurityHeadersOnEveryAnswer(t *testing.T) {
	srv, _ := testAPI(t, nil)
	cases := []struct {
		method, path, token string
		status              int
		html                bool // River UI's page
	}{
		{http.MethodGet, "/fhir/R4/metadata", "", http.StatusOK, false},
		{http.MethodGet, "/fhir/R4/Appointment?date=ge2026-01-01", "app", http.StatusOK, false},
		{http.MethodGet, "/fhir/R4/Appointmnt", "app", http.StatusNotFound, false},
		{http.MethodPost, "/fhir/R4/Patient", "app", http.StatusUnsupportedMediaType, false},
		{http.MethodGet, "/fhir/R4/Patient", "", http.StatusUnauthorized, false},
		{http.MethodDelete, "/fhir/R4/Patient/1", "app", http.StatusMethodNotAllowed, false},
		{http.MethodGet, "/transfers/tr_unknown", "app", http.StatusNotFound, false},
		{http.MethodGet, "/admin/health", "admin", http.StatusOK, false},
		{http.MethodGet, "/admin/health", "app", http.StatusForbidden, false},
		{http.MethodGet, "/audit/log", "auditor", http.StatusOK, false},
		{http.MethodGet, "/auth/whoami", "admin", http.StatusOK, false},
		{http.MethodGet, "/healthz", "", http.StatusOK, false},
		{http.MethodGet, "/readyz", "", http.StatusOK, false},
		{http.MethodGet, "/no/such/path", "", http.StatusNotFound, false},
		{http.MethodGet, "/admin/queue/", "admin", http.StatusOK, true},
		{http.MethodGet, "/admin/queue/jobs", "admin", http.StatusOK, true},
	}
	for _, c := range cases {
		h := []string{}
		if c.token != "" {
			h = []string{"Authorization", "Bearer " + c.token}
		}
		resp, body := call(t, c.method, srv.URL+c.path, h...)
		if resp.StatusCode != c.status {
			t.Errorf("%s %s: %d, want %d (%s)", c.method, c.path, resp.StatusCode, c.status, body)
			continue
		}
		hd := resp.Header
		if ct := hd.Get("Content-Type"); !c.html && !strings.Contains(ct, "json") {
			t.Errorf("%s %s: Content-Type %q, want JSON", c.method, c.path, ct)
		}
		if hd.Get("X-Content-Type-Options") != "nosniff" || hd.Get("Cache-Control") != "no-store" {
			t.Errorf("%s %s (%d): X-Content-Type-Options %q, Cache-Control %q", c.method, c.path, c.status,
				hd.Get("X-Content-Type-Options"), hd.Get("Cache-Control"))
		}
		if hd.Get("Strict-Transport-Security") != "" {
			t.Errorf("%s %s: HSTS over plain HTTP", c.method, c.path)
		}
		if c.html {
			csp := hd.Get("Content-Security-Policy")
			if !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") ||
				hd.Get("X-Frame-Options") != "DENY" {
				t.Errorf("%s %s: CSP %q, X-Frame-Options %q", c.method, c.path, csp, hd.Get("X-Frame-Options"))
			}
		}
	}
}
