package stripe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/switchboard-health/switchboard/connectors"
	"github.com/switchboard-health/switchboard/connectors/outbound"
	"github.com/switchboard-health/switchboard/hub/testenv"
)

// call is one request of a golden billing sequence, or one received.
type call struct {
	method, path, body, key string
}

// billingInputs are the Invoice and ChargeItem goldens' inputs.
func billingInputs(t *testing.T) []string {
	t.Helper()
	in, _ := filepath.Glob(filepath.Join(testenv.RepoRoot(t), "testdata", "mappings", "stripe", "invoice", "*.json"))
	if len(in) < 4 {
		t.Fatal("billing golden inputs missing")
	}
	return in
}

// billingDelivery reads a golden input as the hub would deliver it: a
// resource, or a transaction Bundle whose first entry is the resource and
// whose other entries are Related, keyed by fullUrl.
func billingDelivery(t *testing.T, path, key string) connectors.Delivery {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var b struct {
		ResourceType string `json:"resourceType"`
		Entry        []struct {
			FullURL  string          `json:"fullUrl"`
			Resource json.RawMessage `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(src, &b); err != nil {
		t.Fatal(err)
	}
	d := connectors.Delivery{TransferID: "tr_golden", Interaction: connectors.Create, IdempotencyKey: key, Resource: src}
	if b.ResourceType == "Bundle" {
		d.Resource, d.Related = b.Entry[0].Resource, map[string][]byte{}
		for _, e := range b.Entry[1:] {
			d.Related[e.FullURL] = e.Resource
		}
	}
	var head struct{ ResourceType string }
	_ = json.Unmarshal(d.Resource, &head)
	d.ResourceType = head.ResourceType
	return d
}

// goldenCalls parses a billing golden: "METHOD PATH", then the form one
// parameter a line, calls separated by a blank line.
func goldenCalls(t *testing.T, input string) []call {
	t.Helper()
	b, err := os.ReadFile(strings.TrimSuffix(input, ".json") + ".golden.form")
	if err != nil {
		t.Fatal(err)
	}
	var out []call
	for _, block := range strings.Split(strings.TrimSpace(string(b)), "\n\n") {
		lines := strings.Split(block, "\n")
		method, path, _ := strings.Cut(lines[0], " ")
		out = append(out, call{method: method, path: path, body: strings.Join(lines[1:], "&")})
	}
	return out
}

// fakeStripe keeps Stripe's idempotency: a key that succeeded answers its
// first result again and creates nothing; fail decides, per call, to answer
// an error instead (not cached, like a 503 before the endpoint ran).
type fakeStripe struct {
	mu      sync.Mutex
	calls   []call
	cached  map[string]string
	created map[string]int
	fail    func(c call) (status int, body string)
}

func (f *fakeStripe) serve(t *testing.T) string {
	f.cached, f.created = map[string]string{}, map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		c := call{r.Method, r.URL.Path, string(b), r.Header.Get("Idempotency-Key")}
		f.mu.Lock()
		defer f.mu.Unlock()
		f.calls = append(f.calls, c)
		if r.Header.Get("Authorization") != "Bearer sk_test_123" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if body, ok := f.cached[c.key]; ok {
			_, _ = w.Write([]byte(body))
			return
		}
		if f.fail != nil {
			if status, body := f.fail(c); status != 0 {
				w.WriteHeader(status)
				_, _ = w.Write([]byte(body))
				return
			}
		}
		f.created[c.path]++
		prefix := map[string]string{"/v1/invoiceitems": "ii_", "/v1/invoices": "in_"}[c.path]
		body := fmt.Sprintf(`{"id":"%s%d"}`, prefix, f.created[c.path])
		f.cached[c.key] = body
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func (f *fakeStripe) snapshot() ([]call, map[string]int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	created := map[string]int{}
	for k, v := range f.created {
		created[k] = v
	}
	return append([]call(nil), f.calls...), created
}

// Each golden input, delivered, sends exactly its golden sequence: the
// items in line order, the invoice last, each under its own key.
func TestBillingWhatIsSent(t *testing.T) {
	for _, in := range billingInputs(t) {
		t.Run(filepath.Base(in), func(t *testing.T) {
			var f fakeStripe
			c := mustBuild(t, f.serve(t))
			d := billingDelivery(t, in, "idem-7")
			res, err := c.Deliver(context.Background(), d)
			if err != nil {
				t.Fatal(err)
			}
			want := goldenCalls(t, in)
			for i := range want {
				want[i].key = fmt.Sprintf("idem-7:item:%d", i+1)
			}
			wantID := "ii_1"
			if d.ResourceType == "Invoice" {
				want[len(want)-1].key = "idem-7:invoice"
				wantID = "in_1"
			}
			got, _ := f.snapshot()
			if len(got) != len(want) {
				t.Fatalf("%d calls, want %d: %+v", len(got), len(want), got)
			}
			for i := range want {
				if got[i] != want[i] {
					t.Errorf("call %d:\n got %+v\nwant %+v", i+1, got[i], want[i])
				}
			}
			if res.Status != 200 || res.VendorID != wantID {
				t.Fatalf("result %+v, want VendorID %s", res, wantID)
			}
		})
	}
}

// A failure midway leaves no invoice; the retried delivery replays the
// calls already made under the same keys, so nothing is billed twice.
func TestBillingRetryAfterFailureMidway(t *testing.T) {
	in := filepath.Join(testenv.RepoRoot(t), "testdata", "mappings", "stripe", "invoice", "invoice-two-lines-usd.json")
	var f fakeStripe
	down := true
	f.fail = func(c call) (int, string) {
		if down && strings.HasSuffix(c.key, ":item:2") {
			return http.StatusServiceUnavailable, `{"error":{"type":"api_error","message":"Zzsecret"}}`
		}
		return 0, ""
	}
	c := mustBuild(t, f.serve(t))
	d := billingDelivery(t, in, "k1")

	_, err := c.Deliver(context.Background(), d)
	var ce *connectors.Error
	if !errors.As(err, &ce) || ce.Class != connectors.Retryable || ce.Status != 503 || ce.Code != "stripe_api_error" {
		t.Fatalf("attempt 1: %v", err)
	}
	if !strings.Contains(err.Error(), "/v1/invoiceitems, call 2 of 3") || strings.Contains(err.Error(), "Zzsecret") {
		t.Fatalf("attempt 1 error should name the call, not Stripe's message: %v", err)
	}
	calls, created := f.snapshot()
	if created["/v1/invoices"] != 0 || created["/v1/invoiceitems"] != 1 {
		t.Fatalf("after attempt 1: created %v", created)
	}
	if keys := keysOf(calls); keys != "k1:item:1 k1:item:2 k1:item:2" { // retry_max 1: the failing call tried twice
		t.Fatalf("attempt 1 keys %s", keys)
	}

	down = false
	d.Attempt = 2
	res, err := c.Deliver(context.Background(), d)
	if err != nil || res.VendorID != "in_1" {
		t.Fatalf("attempt 2: %+v %v", res, err)
	}
	calls, created = f.snapshot()
	if created["/v1/invoiceitems"] != 2 || created["/v1/invoices"] != 1 {
		t.Fatalf("a retry must not bill twice: created %v", created)
	}
	if keys := keysOf(calls[3:]); keys != "k1:item:1 k1:item:2 k1:invoice" {
		t.Fatalf("attempt 2 keys %s", keys)
	}
	if calls[3].body != calls[0].body {
		t.Fatal("the replayed item differs from the first")
	}

	// A third delivery of the same transfer (at-least-once) changes nothing.
	if res, err := c.Deliver(context.Background(), d); err != nil || res.VendorID != "in_1" {
		t.Fatalf("attempt 3: %+v %v", res, err)
	}
	if _, created = f.snapshot(); created["/v1/invoiceitems"] != 2 || created["/v1/invoices"] != 1 {
		t.Fatalf("created %v", created)
	}
}

func keysOf(calls []call) string {
	keys := make([]string, len(calls))
	for i, c := range calls {
		keys[i] = c.key
	}
	return strings.Join(keys, " ")
}

// Stripe refusing the invoice itself is permanent, with its error type.
func TestBillingInvoiceRefusedByStripe(t *testing.T) {
	in := filepath.Join(testenv.RepoRoot(t), "testdata", "mappings", "stripe", "invoice", "invoice-jpy.json")
	var f fakeStripe
	f.fail = func(c call) (int, string) {
		if c.path == "/v1/invoices" {
			return http.StatusBadRequest, `{"error":{"type":"invalid_request_error","code":"customer_tax_location_invalid"}}`
		}
		return 0, ""
	}
	c := mustBuild(t, f.serve(t))
	_, err := c.Deliver(context.Background(), billingDelivery(t, in, "k"))
	var ce *connectors.Error
	if !errors.As(err, &ce) || ce.Class != connectors.Permanent || ce.Code != "stripe_invalid_request_error:customer_tax_location_invalid" {
		t.Fatalf("%v", err)
	}
}

// Deliveries the mapping refuses fail permanently, PHI-free, before any
// call reaches Stripe.
func TestBillingRefusedBeforeAnyCall(t *testing.T) {
	cus := `"subject":{"identifier":{"system":"https://switchboard.health/id/stripe-customer","value":"cus_1"}},`
	line := func(v, cur string) string {
		return `{"chargeItemCodeableConcept":{"text":"Zzsecret"},"priceComponent":[{"type":"base","amount":{"value":` + v + `,"currency":"` + cur + `"}}]}`
	}
	inv := func(extra, lines string) []byte {
		return []byte(`{"resourceType":"Invoice","status":"issued",` + extra + `"lineItem":[` + lines + `]}`)
	}
	cases := []struct {
		name string
		d    connectors.Delivery
		code string
	}{
		{"mixed currencies", connectors.Delivery{ResourceType: "Invoice", Resource: inv(cus, line("5", "USD")+","+line("5", "EUR"))}, "currency"},
		{"line currency versus totalGross", connectors.Delivery{ResourceType: "Invoice", Resource: inv(cus+`"totalGross":{"value":5,"currency":"EUR"},`, line("5", "USD"))}, "currency"},
		{"fraction of a cent", connectors.Delivery{ResourceType: "Invoice", Resource: inv(cus, line("5.001", "USD"))}, "amount"},
		{"fraction of a yen", connectors.Delivery{ResourceType: "Invoice", Resource: inv(cus, line("5.5", "JPY"))}, "amount"},
		{"negative total", connectors.Delivery{ResourceType: "Invoice", Resource: inv(cus, line("-5", "USD"))}, "amount"},
		{"no Stripe customer", connectors.Delivery{ResourceType: "Invoice",
			Resource: inv(`"subject":{"reference":"urn:uuid:p"},`, line("5", "USD")),
			Related:  map[string][]byte{"urn:uuid:p": []byte(`{"resourceType":"Patient","name":[{"family":"Zzsecret"}]}`)}}, "no_stripe_customer"},
		{"draft invoice", connectors.Delivery{ResourceType: "Invoice", Resource: []byte(`{"resourceType":"Invoice","status":"draft",` + cus + `"lineItem":[` + line("5", "USD") + `]}`)}, "invoice_status"},
		{"charge item without customer", connectors.Delivery{ResourceType: "ChargeItem",
			Resource: []byte(`{"resourceType":"ChargeItem","status":"billable","subject":{"reference":"Patient/p"},"priceOverride":{"value":5,"currency":"USD"}}`)}, "no_stripe_customer"},
		{"an update would bill again", connectors.Delivery{Interaction: connectors.Update, ResourceType: "Invoice", Resource: inv(cus, line("5", "USD"))}, "unsupported_interaction"},
		{"no idempotency key", connectors.Delivery{ResourceType: "Invoice", Resource: inv(cus, line("5", "USD")), IdempotencyKey: "-"}, "no_idempotency_key"},
		{"body is not an Invoice", connectors.Delivery{ResourceType: "Invoice", Resource: []byte(`{"resourceType":"Patient"}`)}, "mapping"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var f fakeStripe
			c := mustBuild(t, f.serve(t))
			d := tc.d
			if d.Interaction == "" {
				d.Interaction = connectors.Create
			}
			switch d.IdempotencyKey {
			case "":
				d.IdempotencyKey = "k"
			case "-":
				d.IdempotencyKey = ""
			}
			_, err := c.Deliver(context.Background(), d)
			var ce *connectors.Error
			if !errors.As(err, &ce) || ce.Class != connectors.Permanent || ce.Code != tc.code {
				t.Fatalf("error %v, want permanent %s", err, tc.code)
			}
			if strings.Contains(err.Error(), "Zzsecret") {
				t.Fatalf("error holds PHI: %v", err)
			}
			if calls, _ := f.snapshot(); len(calls) != 0 {
				t.Fatalf("%d calls reached Stripe", len(calls))
			}
		})
	}
}

func TestBillingConfig(t *testing.T) {
	env := map[string]string{"STRIPE_API_KEY": "sk_test_123"}
	bad := []struct{ cfg, want string }{
		{`{collection_method: invoice_me}`, "collection_method must be send_invoice or charge_automatically"},
		{`{collection_method: charge_automatically, days_until_due: 10}`, "days_until_due applies to collection_method send_invoice only"},
		{`{days_until_due: 400}`, "days_until_due must be between 0 and 365"},
		{`{invoice_description: "   "}`, "invoice_description must be a short text"},
		{`{invoice_description: "` + strings.Repeat("x", 251) + `"}`, "invoice_description must be a short text"},
	}
	for _, b := range bad {
		if _, err := build(t, b.cfg, env); err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%s: error %v, want %q", b.cfg, err, b.want)
		}
	}

	var f fakeStripe
	base := f.serve(t)
	c, err := build(t, `{base_url: "`+base+`", invoice_description: "Clinic visit", collection_method: charge_automatically, auto_advance: false}`, env)
	if err != nil {
		t.Fatal(err)
	}
	in := filepath.Join(testenv.RepoRoot(t), "testdata", "mappings", "stripe", "invoice", "invoice-jpy.json")
	if _, err := c.Deliver(context.Background(), billingDelivery(t, in, "k")); err != nil {
		t.Fatal(err)
	}
	calls, _ := f.snapshot()
	if !strings.Contains(calls[0].body, "description=Clinic+visit") {
		t.Errorf("item %s", calls[0].body)
	}
	inv := calls[len(calls)-1].body
	if !strings.Contains(inv, "collection_method=charge_automatically") || !strings.Contains(inv, "auto_advance=false") || strings.Contains(inv, "days_until_due") {
		t.Errorf("invoice %s", inv)
	}
}

// The billing goldens are what Stripe receives: stripe-mock, which
// validates parameters against Stripe's OpenAPI spec, accepts every call of
// every golden, and Deliver gets an invoice (or invoice item) id back.
func TestBillingAgainstStripeMock(t *testing.T) {
	c := mustBuild(t, testenv.StripeMock(t))
	for _, in := range billingInputs(t) {
		for i, gc := range goldenCalls(t, in) {
			res, err := c.send(context.Background(), outbound.Request{
				Method: gc.method, URL: c.base + gc.path, Body: []byte(gc.body),
				IdempotencyKey: fmt.Sprintf("golden-%s-%d", filepath.Base(in), i), Header: c.header(),
			})
			if err != nil || res.Status != 200 {
				t.Fatalf("%s call %d (%s): stripe-mock refused the golden: %+v %v", filepath.Base(in), i+1, gc.path, res, err)
			}
		}
		d := billingDelivery(t, in, "deliver-"+filepath.Base(in))
		res, err := c.Deliver(context.Background(), d)
		prefix := map[string]string{"Invoice": "in_", "ChargeItem": "ii_"}[d.ResourceType]
		if err != nil || res.Status != 200 || !strings.HasPrefix(res.VendorID, prefix) {
			t.Fatalf("%s: %+v %v", filepath.Base(in), res, err)
		}
	}
}
