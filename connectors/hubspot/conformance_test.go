//go:build conformance

package hubspot

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/switchboard-health/switchboard/connectors"
)

// TestConformance sends the connector's real requests to a Prism mock of
// HubSpot's published OpenAPI (VENDOR_MOCK_HUBSPOT_URL, set by make
// conformance). Prism answers a request that breaks the spec with a 4xx and
// lists the violations in its sl-violations header; a recording proxy in
// front of the mock reads that header on every request, so the count below
// covers exactly what the connector sent. All data is synthetic.
func TestConformance(t *testing.T) {
	mock := os.Getenv("VENDOR_MOCK_HUBSPOT_URL")
	if mock == "" {
		t.Fatal("VENDOR_MOCK_HUBSPOT_URL is not set: start the Prism mock of hubspot-crm-contacts-v3.json and set it (make conformance does both)")
	}
	target, err := url.Parse(mock)
	if err != nil || target.Host == "" {
		t.Fatalf("VENDOR_MOCK_HUBSPOT_URL is not a URL")
	}
	rec := &recorder{}
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ModifyResponse = rec.record
	ts := httptest.NewServer(proxy)
	defer ts.Close()

	const token = "pat-na1-conformance"
	conn, err := New(connectors.Params{
		Name:   "marketing",
		Decode: func(into any) error { return yaml.Unmarshal([]byte("base_url: "+ts.URL+"\nretry_max: -1\n"), into) },
		Env:    func(string) (string, bool) { return token, true },
	})
	if err != nil {
		t.Fatal(err)
	}
	c := conn.(*Connector)
	ctx := context.Background()

	// (a) every golden request, through the real connector.
	dir := filepath.Join("..", "..", "testdata", "mappings", "hubspot")
	goldens, _ := filepath.Glob(filepath.Join(dir, "patient-*.golden.json"))
	if len(goldens) == 0 {
		t.Fatal("no golden requests in testdata/mappings/hubspot")
	}
	for _, g := range goldens {
		in, err := os.ReadFile(strings.TrimSuffix(g, ".golden.json") + ".json")
		if err != nil {
			t.Fatal(err)
		}
		d := connectors.Delivery{TransferID: "tr_golden", Destination: "marketing", Interaction: connectors.Create,
			ResourceType: "Patient", Resource: in, IdempotencyKey: "conformance-" + filepath.Base(g), Attempt: 1}
		if _, err := c.Deliver(ctx, d); err != nil {
			body, _ := os.ReadFile(g)
			t.Errorf("%s: %v\n%s", filepath.Base(g), err, replay(token, mock+upsertPath, body))
		}
	}

	// (b) end to end: upsert, search by email (two pages), read by id and by email.
	in, err := os.ReadFile(filepath.Join(dir, "patient-full.json"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Deliver(ctx, connectors.Delivery{TransferID: "tr_e2e", Interaction: connectors.Update,
		ResourceType: "Patient", Resource: in, IdempotencyKey: "conformance-e2e", Attempt: 1})
	if err != nil || res.VendorID == "" {
		t.Fatalf("upsert: %+v %v", res, err)
	}
	q := connectors.SearchQuery{ResourceType: "Patient", Params: url.Values{"email": {"alex@example.org"}, "_count": {"5"}}}
	page, err := c.Search(ctx, q)
	if err != nil || len(page.Resources) == 0 {
		t.Fatalf("search: %d resources, %v", len(page.Resources), err)
	}
	for _, p := range page.Resources {
		if !bytes.Contains(p, []byte(`"resourceType":"Patient"`)) || !bytes.Contains(p, []byte(`https://switchboard.health/id/hubspot-contact`)) {
			t.Errorf("search result is not a tagged Patient: %s", p)
		}
	}
	if page.Next != "" {
		q.Cursor = page.Next
		if _, err := c.Search(ctx, q); err != nil {
			t.Errorf("search, next page: %v", err)
		}
	}
	if _, err := c.Read(ctx, res.VendorID); err != nil {
		t.Errorf("read by id: %v", err)
	}
	if _, err := c.ReadByEmail(ctx, "alex@example.org"); err != nil {
		t.Errorf("read by email: %v", err)
	}

	// The check itself must see a violation: an upsert without a token
	// and without an input id, through a second recording proxy.
	canary := &recorder{}
	cp := httputil.NewSingleHostReverseProxy(target)
	cp.ModifyResponse = canary.record
	cts := httptest.NewServer(cp)
	defer cts.Close()
	if resp, err := http.Post(cts.URL+upsertPath, "application/json", strings.NewReader(`{"inputs":[{"properties":{}}]}`)); err == nil {
		resp.Body.Close()
	}
	if _, v := canary.totals(); v == 0 {
		t.Fatal("the mock reported no violation for a request that breaks the spec: is it a Prism mock of HubSpot's spec?")
	}

	n, violations := rec.totals()
	for _, v := range rec.details() {
		t.Errorf("violation: %s", v)
	}
	fmt.Printf("conformance: hubspot: %d requests checked, %d violations\n", n, violations)
	if n == 0 {
		t.Fatal("no request reached the mock")
	}
}

// recorder counts the requests that went through the proxy and the
// violations Prism reported for them.
type recorder struct {
	mu         sync.Mutex
	requests   int
	violations []string
}

func (r *recorder) record(resp *http.Response) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests++
	route := resp.Request.Method + " " + resp.Request.URL.Path
	if h := resp.Header.Get("sl-violations"); h != "" {
		var vs []json.RawMessage
		if json.Unmarshal([]byte(h), &vs) != nil || len(vs) == 0 {
			vs = []json.RawMessage{json.RawMessage(h)}
		}
		for _, v := range vs {
			r.violations = append(r.violations, route+": "+string(v))
		}
	} else if resp.StatusCode < 200 || resp.StatusCode > 299 {
		r.violations = append(r.violations, fmt.Sprintf("%s: status %d", route, resp.StatusCode))
	}
	return nil
}

func (r *recorder) totals() (int, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.requests, len(r.violations)
}

func (r *recorder) details() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.violations...)
}

// replay sends a golden body straight to the mock with net/http, to show
// Prism's answer and violations when a delivery failed (the connector's
// error deliberately holds neither).
func replay(token, u string, body []byte) string {
	req, _ := http.NewRequest(http.MethodPost, u, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "replay failed: " + err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return fmt.Sprintf("replay: %d sl-violations: %s\n%s", resp.StatusCode, resp.Header.Get("sl-violations"), b)
}
