package fhir

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-health/switchboard/cmd/vendorsim/ehrsim"
	"github.com/switchboard-health/switchboard/connectors"
	fhirjson "github.com/switchboard-health/switchboard/mappings/fhir"
)

// pollSandbox is the EHR sandbox in-process, the connector pointed at it,
// and the queries of the searches it received.
type pollSandbox struct {
	t    *testing.T
	srv  *httptest.Server
	base string
	conn *Connector

	mu       sync.Mutex
	searches []string // raw queries of GET {base}/{type}?…
}

func newPollSandbox(t *testing.T, cfg string) *pollSandbox {
	t.Helper()
	s := &pollSandbox{t: t}
	sim := ehrsim.New(ehrsim.Options{})
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && r.URL.RawQuery != "" {
			s.mu.Lock()
			s.searches = append(s.searches, r.URL.RawQuery)
			s.mu.Unlock()
		}
		sim.ServeHTTP(w, r)
	}))
	t.Cleanup(s.srv.Close)
	s.base = s.srv.URL + "/fhir/R4"
	c, err := build(t, `{base_url: "`+s.base+`"`+cfg+`}`, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.conn = c.(*Connector)
	return s
}

// write sends a resource straight to the sandbox, as the EHR's own users
// do, and returns what was stored.
func (s *pollSandbox) write(method, path, body string) map[string]any {
	s.t.Helper()
	req, _ := http.NewRequest(method, s.base+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/fhir+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		s.t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		s.t.Fatal(err)
	}
	return m
}

func (s *pollSandbox) read(typ, id string) map[string]any {
	s.t.Helper()
	b, err := s.conn.Read(context.Background(), typ, id)
	if err != nil {
		s.t.Fatal(err)
	}
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return m
}

// stored is a resource as the sandbox answered its write.
type stored struct {
	id      string
	updated time.Time
}

func storedOf(t *testing.T, m map[string]any) stored {
	t.Helper()
	meta, _ := m["meta"].(map[string]any)
	lu, _ := meta["lastUpdated"].(string)
	u, err := time.Parse(time.RFC3339Nano, lu)
	if err != nil {
		t.Fatalf("lastUpdated %q: %v", lu, err)
	}
	id, _ := m["id"].(string)
	return stored{id, u}
}

// pollAll polls typ from since to the last page, as the hub does.
func pollAll(t *testing.T, p connectors.Poller, typ string, since time.Time, count int) (changes []connectors.Change, pages int) {
	t.Helper()
	q := connectors.PollQuery{ResourceType: typ, Since: since, Count: count}
	for {
		page, err := p.Poll(context.Background(), q)
		if err != nil {
			t.Fatalf("page %d: %v", pages, err)
		}
		pages++
		if len(page.Changes) > count {
			t.Fatalf("page %d holds %d changes, asked for %d", pages, len(page.Changes), count)
		}
		changes = append(changes, page.Changes...)
		if page.Next == "" {
			return changes, pages
		}
		if pages > 100 {
			t.Fatal("polling does not end")
		}
		q.Page = page.Next
	}
}

// TestPollPagesThroughChanges: 250 records written at the EHR come back
// from a poll 50 at a time, each once, oldest first, with its version; a
// poll from the middle starts at that record (ge), not after it.
func TestPollPagesThroughChanges(t *testing.T) {
	s := newPollSandbox(t, "")
	before := time.Now().Add(-time.Second)
	created := map[string][]stored{}
	for i := range 250 {
		typ, body := "Patient", fmt.Sprintf(`{"resourceType":"Patient","identifier":[{"system":"https://c.example/mrn","value":"P%d"}]}`, i)
		if i%3 == 0 {
			typ, body = "Appointment", fmt.Sprintf(`{"resourceType":"Appointment","status":"booked","start":"2026-12-01T%02d:%02d:00Z"}`, i/60%24, i%60)
		}
		created[typ] = append(created[typ], storedOf(t, s.write(http.MethodPost, "/"+typ, body)))
	}
	if got := s.conn.PollTypes(); len(got) != 2 || got[0] != "Patient" || got[1] != "Appointment" {
		t.Fatalf("default poll types %v", got)
	}
	var tests []struct {
		name  string
		typ   string
		since time.Time
		want  []stored
	}
	for _, typ := range s.conn.PollTypes() {
		all := created[typ]
		mid := len(all) / 2
		tests = append(tests, []struct {
			name  string
			typ   string
			since time.Time
			want  []stored
		}{
			{typ + " from before the first", typ, before, all},
			{typ + " from the middle, boundary included", typ, all[mid].updated, all[mid:]},
			{typ + " from the last", typ, all[len(all)-1].updated, all[len(all)-1:]},
			{typ + " from after the last", typ, all[len(all)-1].updated.Add(time.Millisecond), nil},
		}...)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			changes, pages := pollAll(t, s.conn, tc.typ, tc.since, 50)
			if wantPages := max(1, (len(tc.want)+49)/50); pages != wantPages {
				t.Errorf("%d pages, want %d", pages, wantPages)
			}
			if len(changes) != len(tc.want) {
				t.Fatalf("%d changes, want %d", len(changes), len(tc.want))
			}
			seen := map[string]bool{}
			for i, ch := range changes {
				if seen[ch.ID] {
					t.Fatalf("%s seen twice", ch.ID)
				}
				seen[ch.ID] = true
				w := tc.want[i]
				if ch.ID != w.id || !ch.Updated.Equal(w.updated) {
					t.Fatalf("change %d is %s at %s, want %s at %s (lastUpdated order)", i, ch.ID, ch.Updated, w.id, w.updated)
				}
				if ch.ResourceType != tc.typ || ch.Version != "1" || ch.Ours || !bytes.Contains(ch.Resource, []byte(`"id":"`+ch.ID+`"`)) {
					t.Fatalf("change %d: %s/%s version %q ours %v", i, ch.ResourceType, ch.ID, ch.Version, ch.Ours)
				}
			}
		})
	}
	// What went out: ge the cursor in UTC milliseconds, in lastUpdated
	// order, the page size asked for.
	s.mu.Lock()
	first := s.searches[0]
	s.mu.Unlock()
	q, _ := url.ParseQuery(first)
	if !regexp.MustCompile(`^ge\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`).MatchString(q.Get("_lastUpdated")) ||
		q.Get("_sort") != "_lastUpdated" || q.Get("_count") != "50" {
		t.Errorf("first page asked %s", first)
	}
	local := time.Date(2026, 12, 1, 9, 30, 0, 250e6, time.FixedZone("EST", -5*3600))
	if _, err := s.conn.Poll(context.Background(), connectors.PollQuery{ResourceType: "Patient", Since: local, Count: 1}); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	last := s.searches[len(s.searches)-1]
	s.mu.Unlock()
	if q, _ := url.ParseQuery(last); q.Get("_lastUpdated") != "ge2026-12-01T14:30:00.250Z" {
		t.Errorf("a cursor in another zone is sent as %q", q.Get("_lastUpdated"))
	}
}

// TestPollTellsTheHubsVersionsFromOthers: a version the hub wrote (a
// delivery, an identifier written back) polls as Ours; a clinician's edit
// of the same record does not, although the server kept the hub's tag.
func TestPollTellsTheHubsVersionsFromOthers(t *testing.T) {
	s := newPollSandbox(t, "")
	ctx := context.Background()
	r, err := s.conn.Deliver(ctx, connectors.Delivery{Interaction: connectors.Create, ResourceType: "Patient", IdempotencyKey: "c1",
		Resource: []byte(`{"resourceType":"Patient","identifier":[{"system":"https://c.example/mrn","value":"M1"}],"name":[{"family":"F"}]}`)})
	if err != nil {
		t.Fatal(err)
	}
	id := r.VendorID
	// clinicianEdit PUTs the record back as an EHR user's app would: the
	// meta it read (the tags) without the hub's source.
	clinicianEdit := func(family string) {
		m := s.read("Patient", id)
		delete(m["meta"].(map[string]any), "source")
		m["name"] = []any{map[string]any{"family": family}}
		b, _ := json.Marshal(m)
		s.write(http.MethodPut, "/Patient/"+id, string(b))
	}
	steps := []struct {
		name string
		do   func()
		ours bool
	}{
		{"the hub's create", func() {}, true},
		{"a clinician's edit", func() { clinicianEdit("G") }, false},
		{"the hub writes an identifier back", func() {
			if err := s.conn.WriteIdentifier(ctx, connectors.IdentifierWrite{ResourceType: "Patient", ID: id, IdempotencyKey: "w1",
				Identifier: connectors.VendorRef{ResourceType: "Patient", ID: "cus_1", System: connectors.IdentifierSystemPrefix + "stripe-customer"}}); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"another clinician's edit", func() { clinicianEdit("H") }, false},
		{"the hub's update", func() {
			if _, err := s.conn.Deliver(ctx, connectors.Delivery{Interaction: connectors.Update, ResourceType: "Patient", ResourceID: id, IdempotencyKey: "u1",
				Resource: []byte(`{"resourceType":"Patient","id":"` + id + `","name":[{"family":"I"}]}`)}); err != nil {
				t.Fatal(err)
			}
		}, true},
	}
	since := time.Now().Add(-time.Second)
	for i, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			st.do()
			changes, _ := pollAll(t, s.conn, "Patient", since, 50)
			if len(changes) != 1 {
				t.Fatalf("%d changes, want 1", len(changes))
			}
			ch := changes[0]
			if ch.ID != id || ch.Version != fmt.Sprint(i+1) {
				t.Fatalf("change %s version %s, want %s version %d", ch.ID, ch.Version, id, i+1)
			}
			if ch.Ours != st.ours {
				t.Fatalf("Ours = %v, want %v", ch.Ours, st.ours)
			}
			var got struct {
				Meta struct {
					Tag []struct{ System, Code string }
				}
			}
			_ = json.Unmarshal(ch.Resource, &got)
			if len(got.Meta.Tag) != 1 || got.Meta.Tag[0].System != fhirjson.OriginSystem {
				t.Fatalf("the origin tag should be carried forward either way: %+v", got.Meta.Tag)
			}
			since = ch.Updated
		})
	}
}

// TestPollFollowsOnlyTheServersLinks: a next link is followed only under
// base_url (the request carries the bearer token); anything else is a
// permanent failure and no request is made.
func TestPollFollowsOnlyTheServersLinks(t *testing.T) {
	s := newPollSandbox(t, `, poll_types: [Appointment]`)
	u, _ := url.Parse(s.base)
	tests := []struct {
		name, link string
		ok         bool
	}{
		{"the server's next link", s.base + "/Appointment?_count=50&_page=abc", true},
		{"HAPI pages at the base", s.base + "?_getpages=abc&_getpagesoffset=50", true},
		{"the base", s.base + "/", true},
		{"scheme and host in capitals", "HTTP://" + strings.ToUpper(u.Host) + "/fhir/R4/Appointment", true},
		{"another host", "http://169.254.169.254/latest/meta-data", false},
		{"another scheme", "https://" + u.Host + "/fhir/R4/Appointment", false},
		{"another port", "http://" + u.Hostname() + ":1/fhir/R4/Appointment", false},
		{"user info", "http://attacker@" + u.Host + "/fhir/R4/Appointment", false},
		{"outside the base path", s.srv.URL + "/_sandbox/faults", false},
		{"a path sharing the base's prefix", s.srv.URL + "/fhir/R4x/Appointment", false},
		{"dot segments", s.base + "/../../_sandbox/faults", false},
		{"escaped dot segments", s.base + "/%2e%2e/%2E%2E/_sandbox/faults", false},
		{"relative", "/fhir/R4/Appointment?_page=abc", false},
		{"scheme-relative", "//" + u.Host + "/fhir/R4/Appointment", false},
		{"a host sharing the base's prefix", "http://" + u.Host + ".evil.example/fhir/R4/Appointment", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := s.conn.underBase(tc.link); got != tc.ok {
				t.Fatalf("underBase = %v, want %v", got, tc.ok)
			}
			if tc.ok {
				return
			}
			s.mu.Lock()
			n := len(s.searches)
			s.mu.Unlock()
			_, err := s.conn.Poll(context.Background(), connectors.PollQuery{ResourceType: "Appointment", Page: tc.link, Count: 50})
			var ce *connectors.Error
			if !errors.As(err, &ce) || ce.Class != connectors.Permanent || ce.Code != "next_link" {
				t.Fatalf("a foreign next link must be refused: %v", err)
			}
			s.mu.Lock()
			defer s.mu.Unlock()
			if len(s.searches) != n {
				t.Fatal("the refused link was requested")
			}
		})
	}
	if got := s.conn.PollTypes(); len(got) != 1 || got[0] != "Appointment" {
		t.Fatalf("poll_types: %v", got)
	}
}

// TestPollReadsWhatServersAnswer: against a server answering canned
// Bundles, entries that are not changes of the type are skipped, a
// version without lastUpdated polls with a zero time, and failures are
// classified as for deliveries.
func TestPollReadsWhatServersAnswer(t *testing.T) {
	var answer struct {
		status int
		body   string
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/fhir+json")
		w.WriteHeader(answer.status)
		_, _ = io.WriteString(w, answer.body)
	}))
	defer srv.Close()
	c, err := build(t, `{base_url: "`+srv.URL+`/fhir", retry_max: -1}`, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := c.(connectors.Poller)
	answer.status, answer.body = 200, `{"resourceType":"Bundle","type":"searchset",
		"link":[{"relation":"self","url":"`+srv.URL+`/fhir/Patient"},{"relation":"next","url":"`+srv.URL+`/fhir?_getpages=x"}],
		"entry":[
		{"resource":{"resourceType":"Patient","id":"a","meta":{"versionId":"3","lastUpdated":"2026-12-01T10:00:00.123+01:00","source":"`+fhirjson.OriginSource+`#req-9"}},"search":{"mode":"match"}},
		{"resource":{"resourceType":"OperationOutcome","issue":[{"severity":"information","code":"informational"}]},"search":{"mode":"outcome"}},
		{"resource":{"resourceType":"Observation","id":"o"}},
		{"resource":{"resourceType":"Patient"}},
		{"resource":{"resourceType":"Patient","id":"b"}}
		]}`
	page, err := p.Poll(context.Background(), connectors.PollQuery{ResourceType: "Patient", Since: time.Now(), Count: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Changes) != 2 || page.Next != srv.URL+"/fhir?_getpages=x" {
		t.Fatalf("%d changes, next %q", len(page.Changes), page.Next)
	}
	a, b := page.Changes[0], page.Changes[1]
	if a.ID != "a" || a.Version != "3" || !a.Updated.Equal(time.Date(2026, 12, 1, 9, 0, 0, 123e6, time.UTC)) || !a.Ours {
		t.Errorf("first change %+v", a)
	}
	if b.ID != "b" || b.Version != "" || !b.Updated.IsZero() || b.Ours {
		t.Errorf("second change %+v", b)
	}

	for _, tc := range []struct {
		status int
		body   string
		class  connectors.Class
		code   string
	}{
		{400, `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"not-supported","diagnostics":"echo"}]}`, connectors.Permanent, "http_400:not-supported"},
		{401, ``, connectors.Permanent, "http_401"},
		{429, ``, connectors.Retryable, "http_429"},
		{503, ``, connectors.Retryable, "http_503"},
		{200, `{"resourceType":"OperationOutcome"}`, connectors.Permanent, "not_a_bundle"},
		{200, `<html>`, connectors.Permanent, "not_a_bundle"},
	} {
		t.Run(fmt.Sprint(tc.status, " ", tc.code), func(t *testing.T) {
			answer.status, answer.body = tc.status, tc.body
			_, err := p.Poll(context.Background(), connectors.PollQuery{ResourceType: "Patient", Count: 10})
			var ce *connectors.Error
			if !errors.As(err, &ce) || ce.Class != tc.class || ce.Code != tc.code {
				t.Fatalf("%v, want %s %s", err, tc.class, tc.code)
			}
			if strings.Contains(err.Error(), "echo") {
				t.Fatal("the server's diagnostics must not reach the error")
			}
		})
	}
	if _, err := p.Poll(context.Background(), connectors.PollQuery{ResourceType: "Patient/../x"}); connectors.ClassOf(err) != connectors.Permanent {
		t.Fatalf("a type that is no type: %v", err)
	}
}

func TestPollTypesConfig(t *testing.T) {
	for cfg, want := range map[string]string{
		`poll_types: [patient]`:          "not a FHIR resource type",
		`poll_types: [Patient, Patient]`: "twice",
	} {
		if _, err := build(t, `{base_url: "http://x/fhir", `+cfg+`}`, nil); err == nil || !strings.Contains(err.Error(), "poll_types") || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v", cfg, err)
		}
	}
}
