package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/switchboard-health/switchboard/connectors"
	"github.com/switchboard-health/switchboard/hub/auth"
	"github.com/switchboard-health/switchboard/hub/route"
	"github.com/switchboard-health/switchboard/hub/seal"
	"github.com/switchboard-health/switchboard/hub/validation"
)

// fakeSearcher answers from a fixed list, two per page, and records what
// it was asked.
type fakeSearcher struct {
	asked []connectors.SearchQuery
	err   error
}

func (f *fakeSearcher) Search(_ context.Context, q connectors.SearchQuery) (connectors.SearchPage, error) {
	f.asked = append(f.asked, q)
	if f.err != nil {
		return connectors.SearchPage{}, f.err
	}
	if q.Cursor == "" {
		return connectors.SearchPage{Resources: []json.RawMessage{
			json.RawMessage(`{"resourceType":"Appointment","id":"a1"}`), json.RawMessage(`{"resourceType":"Appointment","id":"a2"}`),
		}, Next: "https://vendor.example/bookings?attendee=Zzcanary&page=2"}, nil
	}
	return connectors.SearchPage{Resources: []json.RawMessage{json.RawMessage(`{"resourceType":"Appointment","id":"a3"}`)}}, nil
}

func searchServer(t *testing.T, f *fakeSearcher, logs *bytes.Buffer) *httptest.Server {
	t.Helper()
	tab, err := route.Parse([]byte(`
destinations:
  scheduling: {type: calcom}
routes:
  - {resource: Patient, to: [scheduling]}
reads:
  - {resource: Appointment, from: scheduling}
`), validation.IsResourceType)
	if err != nil {
		t.Fatal(err)
	}
	k, _ := seal.GenerateKey("k1")
	kr, _ := seal.NewKeyring(k)
	s := &Server{Routes: tab, Searchers: map[string]connectors.Searcher{"scheduling": f}, Keys: kr,
		Logger: slog.New(slog.NewJSONHandler(logs, nil)), Auth: anyApp{}}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return srv
}

func getBundle(t *testing.T, u string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("not JSON: %s", b)
	}
	return resp.StatusCode, m
}

func TestPassthroughSearchPagesWithSealedCursors(t *testing.T) {
	f := &fakeSearcher{}
	var logs bytes.Buffer
	srv := searchServer(t, f, &logs)
	status, b := getBundle(t, srv.URL+"/fhir/R4/Appointment?patient=Patient/Zzcanary&date=ge2026-01-01")
	if status != 200 || b["type"] != "searchset" || len(b["entry"].([]any)) != 2 {
		t.Fatalf("first page: %d %v", status, b)
	}
	var next string
	for _, l := range b["link"].([]any) {
		if m := l.(map[string]any); m["relation"] == "next" {
			next = m["url"].(string)
		}
	}
	if next == "" || strings.Contains(next, "Zzcanary") || strings.Contains(next, "vendor.example") {
		t.Fatalf("the next link must be an opaque hub cursor: %q", next)
	}
	if got := f.asked[0].Params.Get("patient"); got != "Patient/Zzcanary" {
		t.Fatalf("the searcher got patient=%q", got)
	}
	status, b = getBundle(t, resolve(t, srv.URL, next)) // relative without a public URL (baseurl.go)
	if status != 200 || len(b["entry"].([]any)) != 1 {
		t.Fatalf("second page: %d %v", status, b)
	}
	if q := f.asked[1]; q.Cursor != "https://vendor.example/bookings?attendee=Zzcanary&page=2" || q.Params.Get("date") != "ge2026-01-01" {
		t.Fatalf("the second page must resume the vendor's cursor with the original parameters: %+v", q)
	}
	for _, l := range b["link"].([]any) {
		if l.(map[string]any)["relation"] == "next" {
			t.Fatal("the last page has no next link")
		}
	}
	// A tampered cursor, or one with other parameters, is refused.
	u, _ := url.Parse(next)
	tok := u.Query().Get("_cursor")
	tampered := tok[:len(tok)-4] + "AAAA"
	for _, bad := range []string{"?_cursor=" + tampered, "?_cursor=" + tok + "&patient=x", "?_cursor=not-a-cursor"} {
		status, b := getBundle(t, srv.URL+"/fhir/R4/Appointment"+bad)
		issue := b["issue"].([]any)[0].(map[string]any)
		if status != 400 || issue["expression"].([]any)[0] != "_cursor" {
			t.Fatalf("%s: %d %v", bad, status, b)
		}
	}
	if strings.Contains(logs.String(), "Zzcanary") {
		t.Fatalf("a search parameter reached the log: %s", logs.String())
	}
}

func TestPassthroughSearchFailures(t *testing.T) {
	cases := []struct {
		name   string
		path   string
		err    error
		status int
		code   string
	}{
		{"not a resource type", "/fhir/R4/Appointmnt", nil, 404, "not-supported"},
		{"routed for writes, not reads", "/fhir/R4/Patient", nil, 405, "not-supported"},
		{"not routed at all", "/fhir/R4/Observation", nil, 404, "not-supported"},
		{"breaker open", "/fhir/R4/Appointment", &connectors.Error{Class: connectors.BreakerOpen, Code: "breaker_open"}, 503, "transient"},
		{"vendor timeout", "/fhir/R4/Appointment", &connectors.Error{Class: connectors.Retryable, Code: "timeout"}, 504, "timeout"},
		{"vendor error", "/fhir/R4/Appointment", &connectors.Error{Class: connectors.Retryable, Code: "http_500", Status: 500}, 502, "exception"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var logs bytes.Buffer
			srv := searchServer(t, &fakeSearcher{err: c.err}, &logs)
			status, b := getBundle(t, srv.URL+c.path+"?patient=Zzcanary")
			if status != c.status || b["resourceType"] != "OperationOutcome" {
				t.Fatalf("%d %v", status, b)
			}
			issue := b["issue"].([]any)[0].(map[string]any)
			if issue["code"] != c.code || strings.Contains(issue["diagnostics"].(string), "Zzcanary") {
				t.Fatalf("issue %v", issue)
			}
		})
	}
}

// anyApp lets every request in as an app with every scope: these tests are
// about searches, access control has its own (hub/server TestRoleByRoute).
type anyApp struct{}

func (anyApp) Authenticate(context.Context, *http.Request) (*auth.Principal, error) {
	return &auth.Principal{ID: "cl_test", Role: auth.RoleApp, Scopes: []string{"system/*.cruds"}}, nil
}

func (a anyApp) AuthenticateToken(ctx context.Context, _ string) (*auth.Principal, error) {
	return a.Authenticate(ctx, nil)
}
