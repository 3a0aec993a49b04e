package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/switchboard-health/switchboard/connectors"
	"github.com/switchboard-health/switchboard/hub/auth"
	"github.com/switchboard-health/switchboard/hub/route"
	"github.com/switchboard-health/switchboard/hub/validation"
)

// fakeSearcher answers from a fixed list, two per page, and records what
// it was asked. It declares the parameters in declared (patient and date
// unless set); with stated it is a FHIR-like source that states on each
// first page which parameters it applied: those it declares, and _count
// capped at 100.
type fakeSearcher struct {
	asked    []connectors.SearchQuery
	err      error
	declared []connectors.SearchParam
	stated   bool
}

var fakeDeclared = []connectors.SearchParam{{Name: "patient", Type: "reference"}, {Name: "date", Type: "date"}}

func (f *fakeSearcher) SearchParams(_ context.Context, typ string) ([]connectors.SearchParam, error) {
	if typ != "Appointment" {
		return nil, nil
	}
	if f.declared == nil {
		return fakeDeclared, nil
	}
	return f.declared, nil
}

func (f *fakeSearcher) StatesApplied() bool { return f.stated }

func (f *fakeSearcher) Search(ctx context.Context, q connectors.SearchQuery) (connectors.SearchPage, error) {
	f.asked = append(f.asked, q)
	if f.err != nil {
		return connectors.SearchPage{}, f.err
	}
	if q.Cursor == "" {
		page := connectors.SearchPage{Resources: []json.RawMessage{
			json.RawMessage(`{"resourceType":"Appointment","id":"a1"}`), json.RawMessage(`{"resourceType":"Appointment","id":"a2"}`),
		}, Next: "https://vendor.example/bookings?attendee=Zzcanary&page=2"}
		if f.stated {
			declared, _ := f.SearchParams(ctx, q.ResourceType)
			page.Applied = url.Values{}
			for k, v := range q.Params {
				if connectors.Declared(declared, k) {
					page.Applied[k] = v
				}
			}
			if n, err := strconv.Atoi(q.Params.Get("_count")); err == nil {
				page.Applied.Set("_count", strconv.Itoa(min(n, 100)))
			}
		}
		return page, nil
	}
	return connectors.SearchPage{Resources: []json.RawMessage{json.RawMessage(`{"resourceType":"Appointment","id":"a3"}`)}}, nil
}

// plainSearcher is a Searcher that declares nothing.
type plainSearcher struct{ f *fakeSearcher }

func (p plainSearcher) Search(ctx context.Context, q connectors.SearchQuery) (connectors.SearchPage, error) {
	return p.f.Search(ctx, q)
}

func searchServer(t *testing.T, f *fakeSearcher, logs *bytes.Buffer) *httptest.Server {
	t.Helper()
	return searchServerOf(t, f, logs)
}

func searchServerOf(t *testing.T, f connectors.Searcher, logs *bytes.Buffer) *httptest.Server {
	t.Helper()
	tab, kr := testRoutes(t)
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
		{"answer too large", "/fhir/R4/Appointment", &connectors.Error{Class: connectors.Permanent, Code: "response_too_large", Status: 200,
			Err: &connectors.ResponseTooLargeError{Limit: 4 << 20}}, 502, "too-costly"},
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
			if c.code == "too-costly" && issue["diagnostics"] != "the source's answer is larger than 4 MiB; ask for a smaller _count" {
				t.Fatalf("diagnostics %q do not name the cause", issue["diagnostics"])
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

// get sends a GET with header pairs and decodes the JSON answer.
func get(t *testing.T, u string, header ...string) (int, http.Header, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("not JSON: %s", b)
	}
	return resp.StatusCode, resp.Header, m
}

// link returns a Bundle's link of the relation, "" when it has none.
func link(b map[string]any, rel string) string {
	links, _ := b["link"].([]any)
	for _, l := range links {
		if m := l.(map[string]any); m["relation"] == rel {
			return m["url"].(string)
		}
	}
	return ""
}

// expressions lists an OperationOutcome's issue expressions.
func expressions(b map[string]any) []string {
	var out []string
	issues, _ := b["issue"].([]any)
	for _, is := range issues {
		ex, _ := is.(map[string]any)["expression"].([]any)
		for _, e := range ex {
			out = append(out, e.(string))
		}
	}
	return out
}

func query(t *testing.T, u string) url.Values {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	return p.Query()
}

// A source that states what it applied (a FHIR server, through its self
// link): a parameter it did not apply is a 400 naming it by default
// (Prefer: handling=strict), and under handling=lenient the answer's self
// link leaves it out. Later pages keep the first page's truth.
func TestSearchNeverClaimsAFilterTheSourceDidNotApply(t *testing.T) {
	f := &fakeSearcher{stated: true}
	srv := searchServer(t, f, &bytes.Buffer{})
	u := srv.URL + "/fhir/R4/Appointment?patient=Patient/Zzcanary&actor=Patient/Zzcanary&_count=500"

	for _, prefer := range []string{"", "handling=strict", "return=minimal, handling=strict"} {
		status, _, b := get(t, u, "Prefer", prefer)
		if status != 400 || b["resourceType"] != "OperationOutcome" || !slices.Equal(expressions(b), []string{"actor"}) {
			t.Fatalf("Prefer %q: %d %v, want 400 naming actor", prefer, status, b)
		}
		if strings.Contains(fmt.Sprint(b), "Zzcanary") {
			t.Fatalf("the outcome echoes a value: %v", b)
		}
	}
	if n := len(f.asked); n != 3 || !f.asked[0].Params.Has("actor") {
		t.Fatalf("the source was asked %d times with %v: a stated source gets every parameter and is judged by its answer", n, f.asked)
	}

	status, h, b := get(t, u, "Prefer", "handling=lenient")
	if status != 200 || b["type"] != "searchset" || h.Get("Preference-Applied") != "handling=lenient" {
		t.Fatalf("lenient: %d %v %v", status, h, b)
	}
	self := query(t, link(b, "self"))
	if self.Has("actor") || self.Get("patient") != "Patient/Zzcanary" || self.Get("_count") != "100" || len(self) != 2 {
		t.Fatalf("lenient self link %q: patient and the _count the source used, nothing else", link(b, "self"))
	}

	// The next page, asked without a preference (strict), states the same
	// and is not refused for what the first page left out.
	// Links are relative when no public URL is configured (baseurl.go):
	// resolved against the server, they are the pages.
	next := srv.URL + link(b, "next")
	status, _, b2 := get(t, next)
	if status != 200 || len(b2["entry"].([]any)) != 1 {
		t.Fatalf("next page: %d %v", status, b2)
	}
	self2 := query(t, link(b2, "self"))
	if self2.Has("actor") || self2.Get("patient") != "Patient/Zzcanary" || self2.Get("_cursor") != query(t, next).Get("_cursor") {
		t.Fatalf("next page's self link %q: the first page's applied parameters and its cursor", link(b2, "self"))
	}
	// That self link is a URL the hub answers: the page again.
	if status, _, b3 := get(t, srv.URL+link(b2, "self")); status != 200 || len(b3["entry"].([]any)) != 1 {
		t.Fatalf("following the page's self link: %d %v", status, b3)
	}
	// The cursor can only be used with what it states.
	if status, _, b := get(t, next+"&actor=Patient/Zzcanary"); status != 400 || !slices.Equal(expressions(b), []string{"_cursor"}) {
		t.Fatalf("cursor with another parameter: %d %v", status, b)
	}
}

// A source that declares its parameters (Cal.com, Candid, HubSpot) is sent
// no others: strict refuses them before the vendor is called, lenient
// leaves them out of the search and of the self link. A searcher that
// declares nothing is sent nothing.
func TestSearchSendsADeclaringSourceOnlyWhatItDeclares(t *testing.T) {
	f := &fakeSearcher{}
	srv := searchServer(t, f, &bytes.Buffer{})
	u := srv.URL + "/fhir/R4/Appointment?patient=Patient/Zzcanary&family=Zzname&name:exact=Zzname&_count=5"
	status, _, b := get(t, u)
	if status != 400 || !slices.Equal(expressions(b), []string{"family", "name:exact"}) || len(f.asked) != 0 {
		t.Fatalf("strict: %d %v, %d calls; want 400 naming family and name:exact, no call", status, b, len(f.asked))
	}
	status, _, b = get(t, u, "Prefer", "handling=lenient")
	if status != 200 || len(f.asked) != 1 {
		t.Fatalf("lenient: %d %v", status, b)
	}
	if got := f.asked[0].Params; got.Has("family") || got.Has("name:exact") || got.Get("patient") != "Patient/Zzcanary" || got.Get("_count") != "5" {
		t.Fatalf("the source was sent %v: patient and _count only", got)
	}
	if self := query(t, link(b, "self")); len(self) != 1 || self.Get("patient") != "Patient/Zzcanary" {
		t.Fatalf("lenient self link %q: patient only (a _count the source does not state is not claimed)", link(b, "self"))
	}
	// A query name that is not a parameter's name is not echoed.
	status, _, b = get(t, srv.URL+"/fhir/R4/Appointment?"+url.QueryEscape("Zz name@x")+"=1")
	if status != 400 || strings.Contains(fmt.Sprint(b), "Zz") {
		t.Fatalf("odd parameter name: %d %v", status, b)
	}

	p := &fakeSearcher{}
	plain := searchServerOf(t, plainSearcher{p}, &bytes.Buffer{})
	if status, _, b := get(t, plain.URL+"/fhir/R4/Appointment?patient=Patient/Zzcanary"); status != 400 || !slices.Equal(expressions(b), []string{"patient"}) {
		t.Fatalf("undeclared source, strict: %d %v", status, b)
	}
	if status, _, b := get(t, plain.URL+"/fhir/R4/Appointment?patient=Patient/Zzcanary", "Prefer", "handling=lenient"); status != 200 ||
		len(p.asked) != 1 || len(p.asked[0].Params) != 0 || link(b, "self") != "/fhir/R4/Appointment" {
		t.Fatalf("undeclared source, lenient: %d %v, asked %v", status, b, p.asked)
	}
}

// A bad search is the client's error: 400 with the parameter named, never
// the vendor's 502. _count is checked by the hub; a connector's BadSearch
// names its own.
func TestBadSearchIsTheClientsError(t *testing.T) {
	for _, q := range []string{"_count=-1", "_count=x", "_count=1&_count=2", "_count=%2B5", "_count=99999999999999999999"} {
		f := &fakeSearcher{}
		srv := searchServer(t, f, &bytes.Buffer{})
		status, _, b := get(t, srv.URL+"/fhir/R4/Appointment?"+q)
		if status != 400 || !slices.Equal(expressions(b), []string{"_count"}) || len(f.asked) != 0 {
			t.Fatalf("%s: %d %v (%d calls)", q, status, b, len(f.asked))
		}
	}
	f := &fakeSearcher{}
	srv := searchServer(t, f, &bytes.Buffer{})
	if status, _, b := get(t, srv.URL+"/fhir/R4/Appointment?_count=0"); status != 200 || f.asked[0].Params.Get("_count") != "0" {
		t.Fatalf("_count=0 (FHIR: a count only): %d %v", status, b)
	}
	f = &fakeSearcher{err: connectors.BadSearch("date", "date needs both ge (or gt) and lt (or le)")}
	srv = searchServer(t, f, &bytes.Buffer{})
	status, _, b := get(t, srv.URL+"/fhir/R4/Appointment?date=ge2026-01-01")
	issue := b["issue"].([]any)[0].(map[string]any)
	if status != 400 || !slices.Equal(expressions(b), []string{"date"}) || issue["code"] != "invalid" || !strings.Contains(issue["diagnostics"].(string), "lt (or le)") {
		t.Fatalf("connector's bad search: %d %v", status, b)
	}
}

// The CapabilityStatement lists every reads: type with search-type and the
// parameters its source declares, next to the write interactions.
func TestMetadataListsSearchParameters(t *testing.T) {
	tab, err := route.Parse([]byte(`
destinations:
  scheduling: {type: calcom}
  ehr: {type: fhir}
routes:
  - {resource: Appointment, to: [ehr]}
reads:
  - {resource: Appointment, from: scheduling}
  - {resource: Consent, from: ehr}
`), validation.IsResourceType)
	if err != nil {
		t.Fatal(err)
	}
	ehr := &fakeSearcher{stated: true, declared: []connectors.SearchParam{{Name: "patient", Type: "reference"}}}
	s := &Server{Routes: tab, Searchers: map[string]connectors.Searcher{"scheduling": &fakeSearcher{}, "ehr": consentSource{ehr}},
		Logger: slog.New(slog.DiscardHandler), Auth: anyApp{}}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	status, _, cs := get(t, srv.URL+"/fhir/R4/metadata")
	if status != 200 {
		t.Fatalf("%d %v", status, cs)
	}
	got := map[string]string{}
	for _, r := range cs["rest"].([]any)[0].(map[string]any)["resource"].([]any) {
		r := r.(map[string]any)
		var parts []string
		for _, in := range r["interaction"].([]any) {
			parts = append(parts, in.(map[string]any)["code"].(string))
		}
		if sp, ok := r["searchParam"].([]any); ok {
			for _, p := range sp {
				p := p.(map[string]any)
				parts = append(parts, p["name"].(string)+":"+p["type"].(string))
			}
		}
		got[r["type"].(string)] = strings.Join(parts, " ")
	}
	want := map[string]string{
		"Appointment": "create update search-type patient:reference date:date",
		"Consent":     "search-type patient:reference",
	}
	if !maps.Equal(got, want) {
		t.Fatalf("CapabilityStatement resources %v, want %v", got, want)
	}
}

// consentSource declares what ehr does, for Consent.
type consentSource struct{ *fakeSearcher }

func (c consentSource) SearchParams(_ context.Context, typ string) ([]connectors.SearchParam, error) {
	if typ != "Consent" {
		return nil, nil
	}
	return c.declared, nil
}
