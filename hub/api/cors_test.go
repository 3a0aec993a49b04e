package api

import (
	"net/http"
	"strings"
	"testing"
)

const (
	appOrigin  = "https://app.example.com"
	evilOrigin = "https://evil.example"
)

// preflight is a browser's CORS preflight for a FHIR create.
func preflight(origin string) []string {
	return []string{"Origin", origin, "Access-Control-Request-Method", "POST",
		"Access-Control-Request-Headers", "authorization, content-type, idempotency-key, prefer"}
}

// CORS is off by default: a preflight gets the route's Allow and no
// Access-Control-* header, so a browser refuses every cross-origin call,
// and answers never name an origin.
func TestCORSOffByDefault(t *testing.T) {
	srv, _ := testAPI(t, nil)
	resp, _ := call(t, http.MethodOptions, srv.URL+"/fhir/R4/Patient", preflight(appOrigin)...)
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Allow") != "OPTIONS, GET, HEAD, POST" {
		t.Fatalf("preflight without CORS: %d Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}
	for _, path := range []string{"/fhir/R4/Patient", "/fhir/R4/metadata"} {
		for _, m := range []string{http.MethodOptions, http.MethodGet} {
			resp, _ := call(t, m, srv.URL+path, preflight(appOrigin)...)
			for k := range resp.Header {
				if strings.HasPrefix(k, "Access-Control-") {
					t.Errorf("%s %s with CORS off: %s: %s", m, path, k, resp.Header.Get(k))
				}
			}
		}
	}
}

// With an allow-list, a listed origin's preflight is answered in full
// (the route's methods, the headers a FHIR client sends, a max age,
// Vary), before authentication; other origins get nothing a browser
// accepts; actual answers, refusals included, name the listed origin and
// expose the headers a client reads.
func TestCORSAllowList(t *testing.T) {
	srv, _ := testAPI(t, func(s *Server) { s.CORSOrigins = []string{appOrigin} })

	resp, _ := call(t, http.MethodOptions, srv.URL+"/fhir/R4/Patient", preflight(appOrigin)...)
	h := resp.Header
	if resp.StatusCode != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != appOrigin {
		t.Fatalf("preflight from a listed origin: %d %v", resp.StatusCode, h)
	}
	if m := h.Get("Access-Control-Allow-Methods"); !strings.Contains(m, "POST") || !strings.Contains(m, "GET") || strings.Contains(m, "DELETE") {
		t.Errorf("Access-Control-Allow-Methods %q, want the route's own methods", m)
	}
	allowed := strings.ToLower(h.Get("Access-Control-Allow-Headers"))
	for _, want := range []string{"authorization", "content-type", "idempotency-key", "prefer", "x-request-id"} {
		if !strings.Contains(allowed, want) {
			t.Errorf("Access-Control-Allow-Headers %q lacks %s", allowed, want)
		}
	}
	if h.Get("Access-Control-Max-Age") != "600" || h.Get("Access-Control-Allow-Credentials") != "" {
		t.Errorf("Max-Age %q, Allow-Credentials %q", h.Get("Access-Control-Max-Age"), h.Get("Access-Control-Allow-Credentials"))
	}
	if !strings.Contains(strings.Join(h.Values("Vary"), ","), "Origin") {
		t.Errorf("Vary %v lacks Origin", h.Values("Vary"))
	}

	// Another origin, and a look-alike.
	for _, o := range []string{evilOrigin, "https://app.example.com.evil.example", "http://app.example.com"} {
		resp, _ := call(t, http.MethodOptions, srv.URL+"/fhir/R4/Patient", preflight(o)...)
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "" {
			t.Errorf("preflight from %s: Allow-Origin %q", o, got)
		}
		resp, _ = call(t, http.MethodGet, srv.URL+"/fhir/R4/metadata", "Origin", o)
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "" {
			t.Errorf("GET from %s: Allow-Origin %q", o, got)
		}
	}

	// Actual requests from the listed origin: a success and a 401.
	for path, want := range map[string]int{"/fhir/R4/metadata": http.StatusOK, "/fhir/R4/Appointment": http.StatusUnauthorized} {
		resp, _ := call(t, http.MethodGet, srv.URL+path, "Origin", appOrigin)
		h := resp.Header
		if resp.StatusCode != want || h.Get("Access-Control-Allow-Origin") != appOrigin ||
			!strings.Contains(h.Get("Access-Control-Expose-Headers"), "Content-Location") ||
			!strings.Contains(strings.Join(h.Values("Vary"), ","), "Origin") {
			t.Errorf("GET %s from the listed origin: %d %v", path, resp.StatusCode, h)
		}
	}
	// Unknown paths stay 404, preflight or not.
	if resp, _ := call(t, http.MethodOptions, srv.URL+"/no/such", preflight(appOrigin)...); resp.StatusCode != http.StatusNotFound {
		t.Errorf("preflight of an unknown path: %d", resp.StatusCode)
	}
}
