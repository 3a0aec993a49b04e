package hubspot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/switchboard-health/switchboard/connectors"
)

const testToken = "pat-na1-test-token"

// seen is one request the fake HubSpot received.
type seen struct {
	method, path, query, auth, key, contentType string
	body                                        []byte
}

// fake is an httptest HubSpot that records requests and answers with the
// handler given for the n-th call (from 1).
type fake struct {
	URL  string
	mu   sync.Mutex
	reqs []seen
}

func newFake(t *testing.T, answer func(n int, r *http.Request, w http.ResponseWriter)) *fake {
	t.Helper()
	f := &fake{}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(b))
		f.mu.Lock()
		f.reqs = append(f.reqs, seen{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("Authorization"),
			r.Header.Get("Idempotency-Key"), r.Header.Get("Content-Type"), b})
		n := len(f.reqs)
		f.mu.Unlock()
		answer(n, r, w)
	}))
	t.Cleanup(ts.Close)
	f.URL = ts.URL
	return f
}

func (f *fake) requests() []seen {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]seen(nil), f.reqs...)
}

func reply(status int, body string, header ...string) func(int, *http.Request, http.ResponseWriter) {
	return func(_ int, _ *http.Request, w http.ResponseWriter) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

// newConnector builds the connector from a YAML config block, as the
// routing file would, with HUBSPOT_TOKEN set.
func newConnector(t *testing.T, config string) *Connector {
	t.Helper()
	c, err := New(connectors.Params{
		Name:   "marketing",
		Decode: func(into any) error { return yaml.Unmarshal([]byte(config), into) },
		Env: func(name string) (string, bool) {
			if name == "HUBSPOT_TOKEN" {
				return testToken, true
			}
			return "", false
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c.(*Connector)
}

func golden(t *testing.T, name string) (input, want []byte) {
	t.Helper()
	dir := filepath.Join("..", "..", "testdata", "mappings", "hubspot")
	in, err := os.ReadFile(filepath.Join(dir, name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	g, err := os.ReadFile(filepath.Join(dir, name+".golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	return in, g
}

// sameJSON compares two JSON documents by meaning.
func sameJSON(t *testing.T, got, want []byte) bool {
	t.Helper()
	var a, b any
	if err := json.Unmarshal(got, &a); err != nil {
		t.Fatalf("not JSON: %s", got)
	}
	if err := json.Unmarshal(want, &b); err != nil {
		t.Fatal(err)
	}
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}

const upsertOK = `{"status":"COMPLETE","startedAt":"2026-01-01T00:00:00Z","completedAt":"2026-01-01T00:00:01Z",
"results":[{"id":"151","new":true,"archived":false,"createdAt":"2026-01-01T00:00:00Z","updatedAt":"2026-01-01T00:00:00Z","properties":{"email":"alex@example.org"}}]}`

func delivery(resource []byte) connectors.Delivery {
	return connectors.Delivery{TransferID: "tr_golden", Destination: "marketing", Interaction: connectors.Create,
		ResourceType: "Patient", Resource: resource, IdempotencyKey: "idem-1", Attempt: 1}
}

// Each golden Patient goes out as exactly its golden body, to the upsert
// path, with the token, the idempotency key and JSON content type.
func TestDeliverSendsTheGoldenRequest(t *testing.T) {
	for _, name := range []string{"patient-full", "patient-minimal", "patient-clinical"} {
		t.Run(name, func(t *testing.T) {
			f := newFake(t, reply(200, upsertOK))
			c := newConnector(t, "base_url: "+f.URL+"/\nretry_max: -1\n")
			in, want := golden(t, name)
			res, err := c.Deliver(context.Background(), delivery(in))
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != 200 || res.VendorID != "151" {
				t.Fatalf("result %+v, want 200 and contact 151", res)
			}
			reqs := f.requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests, want 1", len(reqs))
			}
			r := reqs[0]
			if r.method != "POST" || r.path != "/crm/v3/objects/contacts/batch/upsert" || r.query != "" {
				t.Fatalf("sent %s %s?%s", r.method, r.path, r.query)
			}
			if r.auth != "Bearer "+testToken || r.key != "idem-1" || r.contentType != "application/json" {
				t.Fatalf("headers: auth %q key %q type %q", r.auth, r.key, r.contentType)
			}
			if !sameJSON(t, r.body, want) {
				t.Fatalf("body differs from the golden:\n%s", r.body)
			}
		})
	}
}

func TestFHIRIDPropertyConfig(t *testing.T) {
	cases := []struct{ config, wantKey, absentKey string }{
		{"", "switchboard_fhir_id", ""},
		{"fhir_id_property: ehr_patient_id\n", "ehr_patient_id", "switchboard_fhir_id"},
		{"fhir_id_property: \"\"\n", "", "switchboard_fhir_id"},
	}
	for _, c := range cases {
		f := newFake(t, reply(200, upsertOK))
		conn := newConnector(t, "base_url: "+f.URL+"\n"+c.config)
		in, _ := golden(t, "patient-minimal")
		if _, err := conn.Deliver(context.Background(), delivery(in)); err != nil {
			t.Fatal(err)
		}
		body := string(f.requests()[0].body)
		if c.wantKey != "" && !strings.Contains(body, `"`+c.wantKey+`":"sb-patient-2"`) {
			t.Errorf("config %q: body lacks %s: %s", c.config, c.wantKey, body)
		}
		if c.absentKey != "" && strings.Contains(body, c.absentKey) || c.wantKey == "" && strings.Contains(body, "sb-patient-2") {
			t.Errorf("config %q: body %s", c.config, body)
		}
	}
}

func TestDeliverFailures(t *testing.T) {
	cases := []struct {
		name       string
		answer     func(int, *http.Request, http.ResponseWriter)
		delivery   func(connectors.Delivery) connectors.Delivery
		class      connectors.Class
		code       string
		status     int
		retryAfter time.Duration
		calls      int
	}{
		{name: "validation error: permanent, category in the code, message dropped",
			answer: reply(400, `{"status":"error","message":"Property values were not valid: alex@example.org","correlationId":"aeb5f871-7f07-4993-9211-075dc63e7cbf","category":"VALIDATION_ERROR"}`),
			class:  connectors.Permanent, code: "hubspot_400:VALIDATION_ERROR", status: 400, calls: 1},
		{name: "bad token: permanent",
			answer: reply(401, `{"status":"error","message":"Authentication credentials not found.","correlationId":"aeb5f871-7f07-4993-9211-075dc63e7cbf","category":"INVALID_AUTHENTICATION"}`),
			class:  connectors.Permanent, code: "hubspot_401:INVALID_AUTHENTICATION", status: 401, calls: 1},
		{name: "5xx: retryable, retried within the attempt",
			answer: reply(502, `<html>bad gateway</html>`),
			class:  connectors.Retryable, code: "hubspot_502", status: 502, calls: 2},
		{name: "429 with a long Retry-After: retryable, handed to the queue at once",
			answer: reply(429, `{"status":"error","message":"You have reached your secondly limit.","category":"RATE_LIMITS","correlationId":"aeb5f871-7f07-4993-9211-075dc63e7cbf"}`, "Retry-After", "120"),
			class:  connectors.Retryable, code: "hubspot_429:RATE_LIMITS", status: 429, retryAfter: 120 * time.Second, calls: 1},
		{name: "207 multi-status is a failure, classified by the error's status",
			answer: reply(207, `{"status":"COMPLETE","startedAt":"2026-01-01T00:00:00Z","completedAt":"2026-01-01T00:00:01Z","results":[],"numErrors":1,
"errors":[{"status":"error","category":"VALIDATION_ERROR","message":"Property \"email\" alex@example.org is invalid","context":{"email":["alex@example.org"]},"errors":[],"links":{}}]}`),
			class: connectors.Permanent, code: "hubspot_207:VALIDATION_ERROR", status: 207, calls: 1},
		{name: "207 with a rate-limited input is retryable",
			answer: reply(207, `{"status":"COMPLETE","results":[],"errors":[{"status":"429","category":"RATE_LIMITS","message":"x","context":{},"errors":[],"links":{}}]}`),
			class:  connectors.Retryable, code: "hubspot_429:RATE_LIMITS", status: 207, calls: 1},
		{name: "200 listing errors is not a silent success",
			answer: reply(200, `{"status":"COMPLETE","results":[],"errors":[{"status":"400","category":"OBJECT_ALREADY_EXISTS","message":"x","context":{},"errors":[],"links":{}}]}`),
			class:  connectors.Permanent, code: "hubspot_400:OBJECT_ALREADY_EXISTS", status: 200, calls: 1},
		{name: "200 without a contact id",
			answer: reply(200, `{"status":"PENDING","results":[]}`),
			class:  connectors.Retryable, code: "hubspot_no_result", status: 200, calls: 1},
		{name: "unsupported resource: nothing sent",
			answer:   reply(200, upsertOK),
			delivery: func(d connectors.Delivery) connectors.Delivery { d.ResourceType = "Observation"; return d },
			class:    connectors.Permanent, code: "unsupported_resource", calls: 0},
		{name: "a Patient without an email: nothing sent",
			answer: reply(200, upsertOK),
			delivery: func(d connectors.Delivery) connectors.Delivery {
				d.Resource = []byte(`{"resourceType":"Patient","name":[{"family":"alex@example.org"}],"telecom":[{"system":"phone","value":"1"}]}`)
				return d
			},
			class: connectors.Permanent, code: "no_email", calls: 0},
	}
	in, _ := golden(t, "patient-full")
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFake(t, c.answer)
			conn := newConnector(t, "base_url: "+f.URL+"\nretry_max: 1\n")
			d := delivery(in)
			if c.delivery != nil {
				d = c.delivery(d)
			}
			_, err := conn.Deliver(context.Background(), d)
			var ce *connectors.Error
			if !errors.As(err, &ce) {
				t.Fatalf("got %v, want *connectors.Error", err)
			}
			if ce.Class != c.class || ce.Code != c.code || ce.Status != c.status {
				t.Fatalf("got class %s code %s status %d, want %s %s %d", ce.Class, ce.Code, ce.Status, c.class, c.code, c.status)
			}
			if d := ce.RetryAfter - c.retryAfter; d < -2*time.Second || d > 0 {
				t.Fatalf("RetryAfter %v, want about %v", ce.RetryAfter, c.retryAfter)
			}
			if n := len(f.requests()); n != c.calls {
				t.Fatalf("%d calls, want %d", n, c.calls)
			}
			if strings.Contains(err.Error(), "alex") || strings.Contains(err.Error(), "Property") {
				t.Fatalf("the error holds what HubSpot echoed: %v", err)
			}
		})
	}
}

// A 429 whose Retry-After fits in the attempt is waited for, then retried.
func TestRateLimitRetryAfterIsHonoured(t *testing.T) {
	var first time.Time
	f := newFake(t, func(n int, r *http.Request, w http.ResponseWriter) {
		if n == 1 {
			first = time.Now()
			reply(429, `{"category":"RATE_LIMITS","message":"x","correlationId":"aeb5f871-7f07-4993-9211-075dc63e7cbf"}`, "Retry-After", "1")(n, r, w)
			return
		}
		if time.Since(first) < 950*time.Millisecond {
			reply(418, `{}`)(n, r, w)
			return
		}
		reply(200, upsertOK)(n, r, w)
	})
	conn := newConnector(t, "base_url: "+f.URL+"\n")
	in, _ := golden(t, "patient-full")
	res, err := conn.Deliver(context.Background(), delivery(in))
	if err != nil || res.VendorID != "151" || len(f.requests()) != 2 {
		t.Fatalf("want contact 151 on the second try after 1s: %+v %v, %d calls", res, err, len(f.requests()))
	}
}

func TestNewValidatesConfig(t *testing.T) {
	cases := []struct{ config, env, want string }{
		{"", "", "environment variable HUBSPOT_TOKEN is empty"},
		{"token_env: MARKETING_TOKEN\n", "", "environment variable MARKETING_TOKEN is empty"},
		{"token_env: \"\"\n", "x", "token_env must name an environment variable"},
		{"base_url: ftp://example.org\n", "x", "base_url must be an http(s) URL"},
		{"fhir_id_property: Bad Name\n", "x", "fhir_id_property must be"},
	}
	for _, c := range cases {
		_, err := New(connectors.Params{
			Name:   "marketing",
			Decode: func(into any) error { return yaml.Unmarshal([]byte(c.config), into) },
			Env:    func(string) (string, bool) { return c.env, c.env != "" },
		})
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), `"marketing"`) {
			t.Errorf("config %q: %v, want %q", c.config, err, c.want)
		}
	}
}

func TestSearch(t *testing.T) {
	pages := map[string]string{
		"":  `{"total":3,"results":[{"id":"1","archived":false,"createdAt":"2026-01-01T00:00:00Z","updatedAt":"2026-01-01T00:00:00Z","properties":{"email":"a@example.org","firstname":"A","lastname":"One","lifecyclestage":"lead"}},{"id":"2","archived":false,"createdAt":"2026-01-01T00:00:00Z","updatedAt":"2026-01-01T00:00:00Z","properties":{"email":"a@example.org"}}],"paging":{"next":{"after":"2","link":"?after=2"}}}`,
		"2": `{"total":3,"results":[{"id":"3","archived":false,"createdAt":"2026-01-01T00:00:00Z","updatedAt":"2026-01-01T00:00:00Z","properties":{"email":"a@example.org","phone":"+1-555-0100"}}]}`,
	}
	f := newFake(t, func(n int, r *http.Request, w http.ResponseWriter) {
		var q struct{ After string }
		b, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(b, &q)
		reply(200, pages[q.After])(n, r, w)
	})
	conn := newConnector(t, "base_url: "+f.URL+"\n")
	q := connectors.SearchQuery{ResourceType: "Patient", Params: url.Values{"email": {"a@example.org"}, "_count": {"2"}}}
	page, err := conn.Search(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Resources) != 2 || page.Next != "2" {
		t.Fatalf("first page: %d resources, next %q", len(page.Resources), page.Next)
	}
	wantFirst := `{"resourceType":"Patient","meta":{"tag":[{"system":"https://switchboard.health/origin","code":"hubspot"}]},"identifier":[{"system":"https://switchboard.health/id/hubspot-contact","value":"1"}],"name":[{"family":"One","given":["A"]}],"telecom":[{"system":"email","value":"a@example.org"}]}`
	if string(page.Resources[0]) != wantFirst {
		t.Fatalf("first Patient:\n%s\nwant\n%s", page.Resources[0], wantFirst)
	}
	q.Cursor = page.Next
	page, err = conn.Search(context.Background(), q)
	if err != nil || len(page.Resources) != 1 || page.Next != "" || !strings.Contains(string(page.Resources[0]), `"value":"3"`) {
		t.Fatalf("second page: %+v %v", page, err)
	}
	reqs := f.requests()
	wantBody := `{"after":"","filterGroups":[{"filters":[{"propertyName":"email","operator":"EQ","value":"a@example.org"}]}],"limit":2,"properties":["email","firstname","lastname","phone"],"sorts":[]}`
	if len(reqs) != 2 || reqs[0].method != "POST" || reqs[0].path != "/crm/v3/objects/contacts/search" ||
		reqs[0].auth != "Bearer "+testToken || string(reqs[0].body) != wantBody || !strings.Contains(string(reqs[1].body), `"after":"2"`) {
		t.Fatalf("requests: %+v", reqs)
	}
}

func TestSearchRejects(t *testing.T) {
	f := newFake(t, reply(200, `{"total":0,"results":[]}`))
	conn := newConnector(t, "base_url: "+f.URL+"\n")
	cases := []struct {
		q     connectors.SearchQuery
		code  string
		param string // the parameter a bad search names
	}{
		{connectors.SearchQuery{ResourceType: "Slot", Params: url.Values{"email": {"a@x"}}}, "unsupported_resource", ""},
		{connectors.SearchQuery{ResourceType: "Patient", Params: url.Values{"name": {"Zzname"}}}, "bad_search", "name"},
		{connectors.SearchQuery{ResourceType: "Patient", Params: url.Values{}}, "bad_search", "email"},
		{connectors.SearchQuery{ResourceType: "Patient", Params: url.Values{"email": {"Zz1@x", "Zz2@x"}}}, "bad_search", "email"},
		{connectors.SearchQuery{ResourceType: "Patient", Params: url.Values{"email": {"a@x"}, "_count": {"x"}}}, "bad_search", "_count"},
		{connectors.SearchQuery{ResourceType: "Patient", Params: url.Values{"email": {"a@x"}, "_count": {"0"}}}, "bad_search", "_count"},
	}
	for _, c := range cases {
		_, err := conn.Search(context.Background(), c.q)
		var ce *connectors.Error
		if !errors.As(err, &ce) || ce.Class != connectors.Permanent || ce.Code != c.code || strings.Contains(err.Error(), "Zz") {
			t.Errorf("%+v: %v, want permanent %s", c.q, err, c.code)
		}
		var bad *connectors.SearchParamError
		if errors.As(err, &bad) != (c.code == "bad_search") || (bad != nil && bad.Param != c.param) {
			t.Errorf("%+v: %v, want a bad search naming %q", c.q, err, c.param)
		}
	}
	if n := len(f.requests()); n != 0 {
		t.Fatalf("%d requests sent for rejected searches", n)
	}
}

func TestRead(t *testing.T) {
	f := newFake(t, reply(200, `{"id":"151","archived":false,"createdAt":"2026-01-01T00:00:00Z","updatedAt":"2026-01-01T00:00:00Z","properties":{"email":"alex@example.org","firstname":"Alex"}}`))
	conn := newConnector(t, "base_url: "+f.URL+"\n")
	p, err := conn.ReadByEmail(context.Background(), "alex@example.org")
	if err != nil || !strings.Contains(string(p), `"value":"151"`) || !strings.Contains(string(p), `"given":["Alex"]`) {
		t.Fatalf("%s %v", p, err)
	}
	if _, err := conn.Read(context.Background(), "151"); err != nil {
		t.Fatal(err)
	}
	reqs := f.requests()
	if reqs[0].method != "GET" || reqs[0].path != "/crm/v3/objects/contacts/alex@example.org" ||
		!strings.Contains(reqs[0].query, "idProperty=email") || reqs[0].auth != "Bearer "+testToken {
		t.Fatalf("read by email sent %+v", reqs[0])
	}
	if reqs[1].path != "/crm/v3/objects/contacts/151" || strings.Contains(reqs[1].query, "idProperty") {
		t.Fatalf("read by id sent %+v", reqs[1])
	}
}

// The destination's logs, at Debug, hold neither the Patient's contact
// fields, nor the token, nor what HubSpot echoed back.
func TestLogsHoldNoPHI(t *testing.T) {
	f := newFake(t, reply(400, `{"message":"alex@example.org is invalid","category":"VALIDATION_ERROR","correlationId":"aeb5f871-7f07-4993-9211-075dc63e7cbf"}`))
	var buf bytes.Buffer
	c, err := New(connectors.Params{
		Name:   "marketing",
		Decode: func(into any) error { return yaml.Unmarshal([]byte("base_url: "+f.URL+"\n"), into) },
		Env:    func(string) (string, bool) { return testToken, true },
		Logger: slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	in, _ := golden(t, "patient-full")
	if _, err := c.Deliver(context.Background(), delivery(in)); err == nil {
		t.Fatal("want an error")
	}
	if _, err := c.(*Connector).ReadByEmail(context.Background(), "alex@example.org"); err == nil {
		t.Fatal("want an error")
	}
	out := buf.String()
	if !strings.Contains(out, "/crm/v3/objects/contacts/{id}") {
		t.Fatalf("log lacks the read's path template:\n%s", out)
	}
	// The phone number whole: "555" alone also matched a timestamp's
	// nanoseconds now and then (…:51.66007555Z), failing a clean log.
	for _, canary := range []string{"alex", "Example", "555-0100", "sb-patient-1", testToken, "invalid"} {
		if strings.Contains(out, canary) {
			t.Errorf("log holds %q:\n%s", canary, out)
		}
	}
}
