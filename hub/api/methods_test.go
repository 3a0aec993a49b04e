package api

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/switchboard-health/switchboard/hub/metrics"
)

// A method a route does not take is 405 with the route's Allow, answered
// as an OperationOutcome and logged as an ordinary request: not 403 with
// an ERROR line claiming a route lacks an access rule. OPTIONS without
// CORS is 204 with Allow (RFC 9110 §9.3.7).
func TestWrongMethodIs405WithAllow(t *testing.T) {
	srv, logs := testAPI(t, nil)
	cases := []struct {
		method, path string
		token        string
		status       int
		allow        string
	}{
		{http.MethodDelete, "/fhir/R4/Patient/1", "", http.StatusMethodNotAllowed, "OPTIONS, PUT"},
		{http.MethodPatch, "/fhir/R4/Patient/1", "app", http.StatusMethodNotAllowed, "OPTIONS, PUT"},
		{http.MethodPatch, "/transfers/tr_x", "app", http.StatusMethodNotAllowed, "OPTIONS, GET, HEAD"},
		{http.MethodDelete, "/fhir/R4", "app", http.StatusMethodNotAllowed, "OPTIONS, POST"},
		{http.MethodPut, "/healthz", "", http.StatusMethodNotAllowed, "OPTIONS, GET, HEAD"},
		{http.MethodGet, "/webhooks/ehr", "", http.StatusMethodNotAllowed, "OPTIONS, POST"},
		{http.MethodPost, "/admin/health", "admin", http.StatusMethodNotAllowed, "OPTIONS, GET, HEAD"},
		{http.MethodDelete, "/audit/log", "", http.StatusMethodNotAllowed, "OPTIONS, GET, HEAD"},
		// River UI's own buttons (retry a job) are not routes here.
		{http.MethodPost, "/admin/queue/api/jobs/retry", "admin", http.StatusMethodNotAllowed, "OPTIONS, GET, HEAD"},
		{http.MethodOptions, "/fhir/R4/Patient", "", http.StatusNoContent, "OPTIONS, GET, HEAD, POST"},
		{http.MethodOptions, "/transfers/tr_x", "", http.StatusNoContent, "OPTIONS, GET, HEAD"},
		{http.MethodOptions, "/admin/queue/", "", http.StatusNoContent, "OPTIONS, GET, HEAD"},
	}
	for _, c := range cases {
		h := []string{}
		if c.token != "" {
			h = append(h, "Authorization", "Bearer "+c.token)
		}
		resp, body := call(t, c.method, srv.URL+c.path, h...)
		if resp.StatusCode != c.status || resp.Header.Get("Allow") != c.allow {
			t.Errorf("%s %s: %d Allow %q, want %d Allow %q (%s)", c.method, c.path, resp.StatusCode, resp.Header.Get("Allow"), c.status, c.allow, body)
			continue
		}
		if c.status == http.StatusMethodNotAllowed &&
			(!strings.Contains(string(body), `"resourceType":"OperationOutcome"`) || !strings.Contains(string(body), c.allow)) {
			t.Errorf("%s %s: the 405 is not an OperationOutcome naming the allowed methods: %s", c.method, c.path, body)
		}
		if c.method == http.MethodOptions && resp.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("%s %s: CORS headers with CORS off", c.method, c.path)
		}
	}
	if errs := errorLines(logs.String()); len(errs) > 0 {
		t.Fatalf("wrong methods logged errors:\n%s", strings.Join(errs, "\n"))
	}
	if !strings.Contains(logs.String(), `"route":"/fhir/R4/:type/:id","status":405`) {
		t.Fatalf("the 405s are not in the access log as requests of their route:\n%s", logs.String())
	}
}

// The rule that lets a wrong method through to the router's 405 does not
// open a route that lacks an access rule: its own method is still refused
// to everyone, with the ERROR line that tells the developer.
func TestRouteWithoutRuleStaysClosed(t *testing.T) {
	var logs bytes.Buffer
	s := &Server{Logger: slog.New(slog.NewJSONHandler(&logs, nil)), Auth: roleAuth{}}
	e := echo.New()
	e.HTTPErrorHandler = s.errorHandler
	e.Use(s.access(map[string]Access{"GET /ruled": Public}))
	reached := false
	e.GET("/forgotten", func(c echo.Context) error { reached = true; return c.NoContent(http.StatusOK) })
	e.GET("/ruled", func(c echo.Context) error { return c.NoContent(http.StatusOK) })
	srv := httptest.NewServer(e)
	defer srv.Close()

	for _, tok := range []string{"", "admin", "app"} {
		h := []string{}
		if tok != "" {
			h = []string{"Authorization", "Bearer " + tok}
		}
		if resp, _ := call(t, http.MethodGet, srv.URL+"/forgotten", h...); resp.StatusCode != http.StatusForbidden || reached {
			t.Fatalf("GET of a route without a rule as %q: %d (handler reached: %v)", tok, resp.StatusCode, reached)
		}
	}
	if !strings.Contains(logs.String(), "route without an access rule") {
		t.Fatalf("no ERROR line for the route without a rule: %s", logs.String())
	}
	logs.Reset()
	for _, m := range []string{http.MethodPost, http.MethodDelete, http.MethodOptions} {
		resp, _ := call(t, m, srv.URL+"/forgotten")
		if want := map[string]int{http.MethodOptions: http.StatusNoContent}[m]; want == 0 && resp.StatusCode != http.StatusMethodNotAllowed ||
			want != 0 && resp.StatusCode != want || reached {
			t.Fatalf("%s /forgotten: %d (handler reached: %v)", m, resp.StatusCode, reached)
		}
	}
	if logs.Len() != 0 {
		t.Fatalf("a wrong method logged: %s", logs.String())
	}
}

// A made-up method is a 405 like any other, and is counted, logged and
// traced as "_OTHER": as a metric label, every new method a caller makes
// up would be a new Prometheus series.
func TestMadeUpMethodsDoNotMintSeries(t *testing.T) {
	srv, logs := testAPI(t, func(s *Server) { s.Metrics = metrics.New("test", "all") })
	for i := range 20 {
		m := fmt.Sprintf("BREW%02d", i)
		if resp, _ := call(t, m, srv.URL+"/fhir/R4/Patient/1"); resp.StatusCode != http.StatusMethodNotAllowed ||
			resp.Header.Get("Allow") != "OPTIONS, PUT" {
			t.Fatalf("%s: %d Allow %q", m, resp.StatusCode, resp.Header.Get("Allow"))
		}
	}
	_, body := call(t, http.MethodGet, srv.URL+"/metrics")
	if strings.Contains(string(body), "BREW") || !strings.Contains(string(body),
		`switchboard_http_requests_total{method="_OTHER",route="/fhir/R4/:type/:id",status="405"} 20`) {
		t.Fatalf("made-up methods in the metrics:\n%s", grepLines(string(body), "switchboard_http_requests_total"))
	}
	if strings.Contains(logs.String(), "BREW") {
		t.Fatal("a made-up method reached the access log")
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// HEAD is answered wherever GET is (RFC 9110 §9.3.2): the GET's status and
// headers, no body; access rules are the GET's.
func TestHeadIsServedWhereGetIs(t *testing.T) {
	srv, _ := testAPI(t, nil)
	cases := []struct {
		path, token string
		status      int
	}{
		{"/healthz", "", http.StatusOK},
		{"/fhir/R4/metadata", "", http.StatusOK},
		{"/fhir/R4/Appointment?date=ge2026-01-01", "app", http.StatusOK},
		{"/fhir/R4/Appointment", "", http.StatusUnauthorized},
		{"/admin/queue/", "admin", http.StatusOK},
	}
	for _, c := range cases {
		h := []string{}
		if c.token != "" {
			h = append(h, "Authorization", "Bearer "+c.token)
		}
		get, _ := call(t, http.MethodGet, srv.URL+c.path, h...)
		head, body := call(t, http.MethodHead, srv.URL+c.path, h...)
		if head.StatusCode != c.status || get.StatusCode != c.status {
			t.Errorf("HEAD %s: %d (GET %d), want %d", c.path, head.StatusCode, get.StatusCode, c.status)
		}
		if len(body) != 0 {
			t.Errorf("HEAD %s: a body of %d bytes", c.path, len(body))
		}
		if head.Header.Get("Content-Type") != get.Header.Get("Content-Type") {
			t.Errorf("HEAD %s: Content-Type %q, GET's %q", c.path, head.Header.Get("Content-Type"), get.Header.Get("Content-Type"))
		}
	}
}
