package candid

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
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

// testConfig is the billing default the mapping goldens were made with.
const testConfig = `
billing_npi: "1234567893"
billing_tax_id: "987654321"
billing_organization_name: Default Billing Group
billing_address1: 500 Billing St
billing_city: Springfield
billing_state: IL
billing_zip: "62704"
billing_zip_plus_four: "1000"
place_of_service_code: "11"
retry_max: -1
`

func build(t *testing.T, base, extra string, env map[string]string) (*Connector, error) {
	t.Helper()
	var node yaml.Node
	if err := yaml.Unmarshal([]byte("base_url: "+base+"\n"+testConfig+extra), &node); err != nil {
		t.Fatal(err)
	}
	conn, err := New(connectors.Params{
		Name:   "billing",
		Decode: func(into any) error { return node.Content[0].Decode(into) },
		Env:    func(n string) (string, bool) { v, ok := env[n]; return v, ok },
	})
	if err != nil {
		return nil, err
	}
	return conn.(*Connector), nil
}

var testEnv = map[string]string{"CANDID_CLIENT_ID": "cid", "CANDID_CLIENT_SECRET": "csecret"}

func mustBuild(t *testing.T, base string) *Connector {
	t.Helper()
	c, err := build(t, base, "", testEnv)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

type call struct {
	method, path, auth, idem string
	body                     []byte
}

// fake is Candid: a token endpoint and the encounter endpoints, answering
// with encounter status/ body as set, recording every call.
type fake struct {
	mu       sync.Mutex
	calls    []call
	tokens   int
	encCode  int
	encBody  string
	failAuth int // answer 401 to this many encounter calls
}

func (f *fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call{r.Method, r.URL.Path, r.Header.Get("Authorization"), r.Header.Get("Idempotency-Key"), b})
	w.Header().Set("Content-Type", "application/json")
	if r.URL.Path == "/api/auth/v2/token" {
		f.tokens++
		_, _ = io.WriteString(w, `{"access_token":"tok`+string(rune('0'+f.tokens))+`","expires_in":3600,"token_type":"Bearer"}`)
		return
	}
	if f.failAuth > 0 {
		f.failAuth--
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"errorName":"UnauthorizedError","content":{"message":"bad"}}`)
		return
	}
	if f.encCode != 0 {
		w.WriteHeader(f.encCode)
	}
	_, _ = io.WriteString(w, f.encBody)
}

func testdata(name string) string {
	return filepath.Join("..", "..", "testdata", "mappings", "candid", name)
}

// delivery builds a Delivery from a golden input (bare or with related).
func delivery(t *testing.T, in, key string) connectors.Delivery {
	t.Helper()
	src, err := os.ReadFile(in)
	if err != nil {
		t.Fatal(err)
	}
	d := connectors.Delivery{TransferID: "tr_test", Interaction: connectors.Create, ResourceType: "Claim",
		Resource: src, IdempotencyKey: key, Attempt: 1}
	var w struct {
		Resource json.RawMessage            `json:"resource"`
		Related  map[string]json.RawMessage `json:"related"`
	}
	if json.Unmarshal(src, &w) == nil && w.Resource != nil {
		d.Resource = w.Resource
		d.Related = map[string][]byte{}
		for k, v := range w.Related {
			d.Related[k] = v
		}
	}
	return d
}

func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return bytes.Equal(xa, ya)
}

func TestDeliverSendsGoldenBody(t *testing.T) {
	for _, name := range []string{"claim-contained", "claim-related"} {
		t.Run(name, func(t *testing.T) {
			f := &fake{encBody: `{"encounter_id":"enc-42"}`}
			srv := httptest.NewServer(f)
			defer srv.Close()
			c := mustBuild(t, srv.URL)
			res, err := c.Deliver(context.Background(), delivery(t, testdata(name+".json"), "key-1"))
			if err != nil {
				t.Fatal(err)
			}
			if res.VendorID != "enc-42" || res.Status != 200 {
				t.Errorf("result %+v, want VendorID enc-42", res)
			}
			if len(f.calls) != 2 {
				t.Fatalf("%d calls, want token + encounter", len(f.calls))
			}
			tok, enc := f.calls[0], f.calls[1]
			if tok.method != "POST" || !sameJSON(t, tok.body, []byte(`{"client_id":"cid","client_secret":"csecret"}`)) {
				t.Errorf("token call %s %s", tok.method, tok.body)
			}
			if enc.method != "POST" || enc.path != "/api/encounters/v4" || enc.auth != "Bearer tok1" || enc.idem != "key-1" {
				t.Errorf("encounter call %s %s auth %q key %q", enc.method, enc.path, enc.auth, enc.idem)
			}
			golden, _ := os.ReadFile(testdata(name + ".golden.json"))
			if !sameJSON(t, enc.body, golden) {
				t.Errorf("body differs from %s.golden.json:\n%s", name, enc.body)
			}
		})
	}
}

func TestTokenCachedAndRefreshed(t *testing.T) {
	f := &fake{encBody: `{"encounter_id":"enc-1"}`}
	srv := httptest.NewServer(f)
	defer srv.Close()
	c := mustBuild(t, srv.URL)
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	c.now = func() time.Time { return now }
	d := delivery(t, testdata("claim-contained.json"), "k")
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if _, err := c.Deliver(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	if f.tokens != 1 {
		t.Errorf("3 deliveries fetched %d tokens, want 1 (cached)", f.tokens)
	}
	now = now.Add(59 * time.Minute) // within the last minute of expires_in 3600
	if _, err := c.Deliver(ctx, d); err != nil {
		t.Fatal(err)
	}
	if f.tokens != 2 || f.calls[len(f.calls)-1].auth != "Bearer tok2" {
		t.Errorf("near expiry: %d tokens, last auth %q; want a new token", f.tokens, f.calls[len(f.calls)-1].auth)
	}

	f.failAuth = 1
	_, err := c.Deliver(ctx, d)
	var ce *connectors.Error
	if !errors.As(err, &ce) || ce.Class != connectors.Retryable || ce.Code != "candid_UnauthorizedError" {
		t.Fatalf("401: %v, want retryable candid_UnauthorizedError", err)
	}
	if _, err := c.Deliver(ctx, d); err != nil {
		t.Fatal(err)
	}
	if f.tokens != 3 || f.calls[len(f.calls)-1].auth != "Bearer tok3" {
		t.Errorf("after a 401: %d tokens, last auth %q; want the token dropped and fetched again", f.tokens, f.calls[len(f.calls)-1].auth)
	}
}

func TestErrorClassification(t *testing.T) {
	tests := []struct {
		status int
		body   string
		class  connectors.Class
		code   string
	}{
		{422, `{"errorName":"HttpRequestValidationsError","content":[{"message":"patient Testperson invalid"}]}`, connectors.Permanent, "candid_HttpRequestValidationsError"},
		{400, `not json`, connectors.Permanent, "candid_400"},
		{409, `{"errorName":"EncounterExternalIdUniquenessError"}`, connectors.Retryable, "candid_EncounterExternalIdUniquenessError"},
		{429, `{}`, connectors.Retryable, "candid_429"},
		{503, `{"errorName":"has spaces and Testperson"}`, connectors.Retryable, "candid_503"},
	}
	for _, tt := range tests {
		t.Run(http.StatusText(tt.status), func(t *testing.T) {
			f := &fake{encCode: tt.status, encBody: tt.body}
			srv := httptest.NewServer(f)
			defer srv.Close()
			c := mustBuild(t, srv.URL)
			_, err := c.Deliver(context.Background(), delivery(t, testdata("claim-contained.json"), "k"))
			var ce *connectors.Error
			if !errors.As(err, &ce) || ce.Class != tt.class || ce.Code != tt.code || ce.Status != tt.status {
				t.Fatalf("got %v, want %s %s", err, tt.class, tt.code)
			}
			if strings.Contains(err.Error(), "Testperson") {
				t.Errorf("error quotes the answer: %v", err)
			}
		})
	}
}

func TestRefusals(t *testing.T) {
	f := &fake{}
	srv := httptest.NewServer(f)
	defer srv.Close()
	c := mustBuild(t, srv.URL)
	_, err := c.Deliver(context.Background(), connectors.Delivery{ResourceType: "Patient", Interaction: connectors.Create, Resource: []byte(`{}`)})
	if connectors.ClassOf(err) != connectors.Permanent || !strings.Contains(err.Error(), "unsupported_resource") {
		t.Errorf("Patient: %v, want permanent unsupported_resource", err)
	}
	d := delivery(t, testdata("claim-contained.json"), "k")
	d.Resource = bytes.Replace(d.Resource, []byte(`"diagnosis"`), []byte(`"x_diagnosis"`), 1)
	_, err = c.Deliver(context.Background(), d)
	if connectors.ClassOf(err) != connectors.Permanent || !strings.Contains(err.Error(), "mapping") || strings.Contains(err.Error(), "Testperson") {
		t.Errorf("no diagnosis: %v, want a permanent PHI-free mapping error", err)
	}
	if len(f.calls) != 0 {
		t.Errorf("%d calls made for refused deliveries, want none", len(f.calls))
	}
}

func TestMissingSecrets(t *testing.T) {
	for _, tt := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"CANDID_CLIENT_SECRET": "s"}, "CANDID_CLIENT_ID"},
		{map[string]string{"CANDID_CLIENT_ID": "i"}, "CANDID_CLIENT_SECRET"},
	} {
		_, err := build(t, "http://127.0.0.1:1", "", tt.env)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("New: %v, want it to name %s", err, tt.want)
		}
	}
	_, err := build(t, "http://127.0.0.1:1", "client_secret_env: MY_SECRET\n", testEnv)
	if err == nil || !strings.Contains(err.Error(), "MY_SECRET") {
		t.Errorf("New: %v, want it to name MY_SECRET", err)
	}
}

func TestSearchClaimResponse(t *testing.T) {
	enc, _ := os.ReadFile(testdata("vendor-encounter.json"))
	golden, _ := os.ReadFile(testdata("vendor-encounter.golden.json"))
	for _, id := range []string{"0a1b2c3d-0000-4000-8000-00000000beef", "https://switchboard.health/id/candid-encounter|0a1b2c3d-0000-4000-8000-00000000beef"} {
		f := &fake{encBody: string(enc)}
		srv := httptest.NewServer(f)
		c := mustBuild(t, srv.URL)
		page, err := c.Search(context.Background(), connectors.SearchQuery{ResourceType: "ClaimResponse", Params: url.Values{"identifier": {id}}})
		srv.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Resources) != 1 || !sameJSON(t, page.Resources[0], golden) {
			t.Fatalf("search %q: %s, want vendor-encounter.golden.json", id, page.Resources)
		}
		last := f.calls[len(f.calls)-1]
		if last.method != "GET" || last.path != "/api/encounters/v4/0a1b2c3d-0000-4000-8000-00000000beef" || last.auth != "Bearer tok1" {
			t.Errorf("search call %s %s %q", last.method, last.path, last.auth)
		}
	}
	f := &fake{encCode: 404, encBody: `{"errorName":"EntityNotFoundError"}`}
	srv := httptest.NewServer(f)
	defer srv.Close()
	c := mustBuild(t, srv.URL)
	page, err := c.Search(context.Background(), connectors.SearchQuery{ResourceType: "ClaimResponse", Params: url.Values{"identifier": {"nope"}}})
	if err != nil || len(page.Resources) != 0 {
		t.Errorf("unknown encounter: %v %d, want an empty page", err, len(page.Resources))
	}
	// What Candid cannot apply is the client's bad search, naming the
	// parameter; nothing is sent.
	calls := len(f.calls)
	for _, tc := range []struct {
		params url.Values
		param  string
	}{
		{url.Values{"identifier": {"http://other|x"}}, "identifier"},
		{url.Values{"identifier": {"a", "b"}}, "identifier"},
		{url.Values{"identifier": {"a"}, "patient": {"Patient/1"}}, "patient"},
		{url.Values{}, "identifier"},
	} {
		_, err := c.Search(context.Background(), connectors.SearchQuery{ResourceType: "ClaimResponse", Params: tc.params})
		var bad *connectors.SearchParamError
		if connectors.ClassOf(err) != connectors.Permanent || !errors.As(err, &bad) || bad.Param != tc.param {
			t.Errorf("%v: %v, want a bad search naming %s", tc.params, err, tc.param)
		}
	}
	if len(f.calls) != calls {
		t.Errorf("%d calls to Candid for refused searches", len(f.calls)-calls)
	}
}

// The spec declares UnauthorizedError with status 403: it drops the token too.
func TestForbiddenUnauthorizedDropsToken(t *testing.T) {
	f := &fake{encBody: `{"encounter_id":"enc-1"}`}
	srv := httptest.NewServer(f)
	defer srv.Close()
	c := mustBuild(t, srv.URL)
	d := delivery(t, testdata("claim-contained.json"), "k")
	if _, err := c.Deliver(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	f.encCode, f.encBody = 403, `{"errorName":"UnauthorizedError","content":{}}`
	_, err := c.Deliver(context.Background(), d)
	if connectors.ClassOf(err) != connectors.Retryable {
		t.Fatalf("403 UnauthorizedError: %v, want retryable", err)
	}
	f.encCode, f.encBody = 0, `{"encounter_id":"enc-1"}`
	if _, err := c.Deliver(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	if f.tokens != 2 {
		t.Errorf("%d tokens fetched, want 2 (the first dropped after the 403)", f.tokens)
	}
}
