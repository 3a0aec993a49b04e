package fhir

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/switchboard-health/switchboard/cmd/vendorsim/ehrsim"
	"github.com/switchboard-health/switchboard/connectors"
)

// A FHIR server ignores a parameter it does not serve (the EHR sandbox
// ignores actor, a real Appointment parameter) and says so by leaving it
// out of its self link: the page's Applied is that statement, and
// connectors.Unapplied names what was dropped.
func TestSearchStatesWhatTheServerApplied(t *testing.T) {
	srv := httptest.NewServer(ehrsim.New(ehrsim.Options{}))
	defer srv.Close()
	conn, err := build(t, `{base_url: "`+srv.URL+`/fhir/R4"}`, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := conn.(connectors.Searcher)
	ctx := context.Background()
	q := connectors.SearchQuery{ResourceType: "Appointment", Params: url.Values{
		"actor": {"Patient/a"}, "patient": {"Patient/a"}, "date": {"ge2026-01-01", "lt2027-01-01"}, "_count": {"5000"}}}
	page, err := s.Search(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if page.Applied.Get("patient") != "Patient/a" || len(page.Applied["date"]) != 2 || page.Applied.Has("actor") {
		t.Fatalf("applied %v: want patient and both dates, not actor", page.Applied)
	}
	if n := page.Applied.Get("_count"); n != "1000" {
		t.Errorf("applied _count %q: the sandbox caps it at 1000 and says so", n)
	}
	missing, err := connectors.Unapplied(ctx, s, q, page)
	if err != nil || !slices.Equal(missing, []string{"actor"}) {
		t.Fatalf("unapplied %v %v, want [actor]", missing, err)
	}
	// One date bound of two dropped is a date not applied.
	page.Applied["date"] = page.Applied["date"][:1]
	if missing, _ := connectors.Unapplied(ctx, s, q, page); !slices.Equal(missing, []string{"actor", "date"}) {
		t.Fatalf("unapplied %v, want [actor date]", missing)
	}
}

// fakeFHIR answers searches with body and /metadata with a minimal
// CapabilityStatement, counting the latter.
func fakeFHIR(t *testing.T, status int, body string, metadataCalls *atomic.Int32) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/fhir+json")
		if strings.HasSuffix(r.URL.Path, "/metadata") {
			metadataCalls.Add(1)
			_, _ = w.Write([]byte(`{"resourceType":"CapabilityStatement","rest":[{"mode":"server","resource":[
				{"type":"Appointment","searchParam":[{"name":"patient","type":"reference"},{"name":"date","type":"date"},{"name":"patient","type":"reference"}]},
				{"type":"Patient","searchParam":[{"name":"identifier","type":"token"}]}]},
				{"mode":"client","resource":[{"type":"Appointment","searchParam":[{"name":"client-only","type":"token"}]}]}]}`))
			return
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestSearchWithoutSelfLinkAppliedNothing(t *testing.T) {
	var calls atomic.Int32
	srv := fakeFHIR(t, 200, `{"resourceType":"Bundle","type":"searchset","entry":[{"resource":{"resourceType":"Patient","id":"1"}}]}`, &calls)
	conn, err := build(t, `{base_url: "`+srv.URL+`/fhir"}`, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := conn.(connectors.Searcher)
	q := connectors.SearchQuery{ResourceType: "Patient", Params: url.Values{"identifier": {"urn:x|1"}, "_count": {"1"}}}
	page, err := s.Search(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	if missing, _ := connectors.Unapplied(context.Background(), s, q, page); !slices.Equal(missing, []string{"identifier"}) {
		t.Fatalf("unapplied %v: a server that states nothing applied nothing (but _count, a page size)", missing)
	}
	// The connector's own lookups refuse such an answer: it would update
	// whichever record came first.
	if _, err := conn.(*Connector).findByIdentifier(context.Background(), "Patient", "urn:x|1"); connectors.ClassOf(err) != connectors.Permanent ||
		!strings.Contains(err.Error(), "search_param_ignored") {
		t.Fatalf("lookup through an ignored identifier: %v, want permanent search_param_ignored", err)
	}
}

// A 400 to a search is the client's: its parameters were passed on as
// written. The parameter is named when the server's OperationOutcome names
// one the client sent, and nothing else the server wrote is kept.
func TestSearchRefusedByTheServerIsABadSearch(t *testing.T) {
	for _, tc := range []struct {
		name, body, param string
	}{
		{"names the parameter", `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"invalid","expression":["date"],"diagnostics":"Zzecho"}]}`, "date"},
		{"names something not sent", `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"invalid","expression":["Zzecho"]}]}`, ""},
		{"not an OperationOutcome", `oops`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int32
			srv := fakeFHIR(t, 400, tc.body, &calls)
			conn, _ := build(t, `{base_url: "`+srv.URL+`/fhir"}`, nil)
			_, err := conn.(connectors.Searcher).Search(context.Background(), connectors.SearchQuery{ResourceType: "Appointment",
				Params: url.Values{"date": {"sa2026"}}})
			var bad *connectors.SearchParamError
			if !errors.As(err, &bad) || bad.Param != tc.param || connectors.ClassOf(err) != connectors.Permanent || strings.Contains(err.Error(), "Zz") {
				t.Fatalf("%v: want a bad search naming %q", err, tc.param)
			}
		})
	}
	// Against the sandbox, which names the parameter as servers do.
	sim := httptest.NewServer(ehrsim.New(ehrsim.Options{}))
	defer sim.Close()
	conn, _ := build(t, `{base_url: "`+sim.URL+`/fhir/R4"}`, nil)
	_, err := conn.(connectors.Searcher).Search(context.Background(), connectors.SearchQuery{ResourceType: "Consent",
		Params: url.Values{"_count": {"-1"}}})
	var bad *connectors.SearchParamError
	if !errors.As(err, &bad) || bad.Param != "_count" {
		t.Fatalf("Consent?_count=-1 at the sandbox: %v, want a bad search naming _count", err)
	}
}

// The parameters a FHIR connector declares are its server's, from its
// CapabilityStatement (server mode only, each once), read once and kept.
func TestSearchParamsFromTheCapabilityStatement(t *testing.T) {
	var calls atomic.Int32
	srv := fakeFHIR(t, 200, `{}`, &calls)
	conn, _ := build(t, `{base_url: "`+srv.URL+`/fhir"}`, nil)
	d := conn.(connectors.SearchDeclarer)
	if !d.StatesApplied() {
		t.Fatal("a FHIR server states what it applied")
	}
	for range 3 {
		params, err := d.SearchParams(context.Background(), "Appointment")
		if err != nil || len(params) != 2 || params[0] != (connectors.SearchParam{Name: "patient", Type: "reference"}) || params[1].Name != "date" {
			t.Fatalf("%v %v", params, err)
		}
	}
	if params, _ := d.SearchParams(context.Background(), "Observation"); len(params) != 0 {
		t.Fatalf("Observation: %v, want none", params)
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("%d CapabilityStatement reads, want 1", n)
	}
}
