package stripe

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/switchboard-health/switchboard/connectors"
	"github.com/switchboard-health/switchboard/connectors/outbound"
	"github.com/switchboard-health/switchboard/hub/testenv"
)

func build(t *testing.T, cfg string, env map[string]string) (*Connector, error) {
	t.Helper()
	conn, err := New(connectors.Params{
		Name: "payments",
		Decode: func(into any) error {
			dec := yaml.NewDecoder(strings.NewReader(cfg))
			dec.KnownFields(true)
			return dec.Decode(into)
		},
		Env:    func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return nil, err
	}
	return conn.(*Connector), nil
}

func mustBuild(t *testing.T, base string) *Connector {
	t.Helper()
	c, err := build(t, `{base_url: "`+base+`", retry_max: 1}`, map[string]string{"STRIPE_API_KEY": "sk_test_123"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestConfigErrors(t *testing.T) {
	cases := []struct {
		name, cfg string
		env       map[string]string
		want      string
	}{
		{"missing key names the variable", `{}`, nil,
			`stripe destination "payments": environment variable STRIPE_API_KEY is empty`},
		{"another variable", `{api_key_env: PAY_KEY}`, map[string]string{"STRIPE_API_KEY": "sk_test_1"},
			`environment variable PAY_KEY is empty`},
		{"base_url must be http(s)", `{base_url: "ftp://x"}`, map[string]string{"STRIPE_API_KEY": "sk_test_1"}, "base_url"},
		{"unknown field", `{base_urll: "http://x"}`, map[string]string{"STRIPE_API_KEY": "sk_test_1"}, "base_urll"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := build(t, c.cfg, c.env); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want it to contain %q", err, c.want)
			}
		})
	}
	if _, err := build(t, `{}`, map[string]string{"STRIPE_API_KEY": "sk_test_1"}); err != nil {
		t.Fatalf("defaults: %v", err)
	}
}

func inputs(t *testing.T) []string {
	t.Helper()
	in, _ := filepath.Glob(filepath.Join(testenv.RepoRoot(t), "testdata", "mappings", "stripe", "*.json"))
	if len(in) == 0 {
		t.Fatal("no golden inputs")
	}
	return in
}

// The golden forms themselves are what Stripe receives: each is accepted by
// stripe-mock, which validates parameters against Stripe's OpenAPI spec.
func TestGoldenFormsAcceptedByStripeMock(t *testing.T) {
	c := mustBuild(t, testenv.StripeMock(t))
	for _, in := range inputs(t) {
		golden, err := os.ReadFile(strings.TrimSuffix(in, ".json") + ".golden.form")
		if err != nil {
			t.Fatal(err)
		}
		body := strings.ReplaceAll(strings.TrimSpace(string(golden)), "\n", "&")
		res, err := c.send(context.Background(), outbound.Request{
			Method: http.MethodPost, URL: c.base + "/v1/customers", Body: []byte(body), IdempotencyKey: "golden-" + filepath.Base(in),
			Header: http.Header{"Authorization": {"Bearer " + c.key}, "Content-Type": {"application/x-www-form-urlencoded"}},
		})
		if err != nil || res.Status != 200 {
			t.Fatalf("%s: stripe-mock refused the golden form: %+v %v", filepath.Base(in), res, err)
		}
	}
}

// Through Deliver, against stripe-mock: a Patient without a Stripe
// identifier creates, one with it updates that customer; both answer with
// the customer id. A request Stripe rejects (400) and a bad key (401) are
// permanent, with Stripe's error type as the code.
func TestDeliverAgainstStripeMock(t *testing.T) {
	base := testenv.StripeMock(t)
	c := mustBuild(t, base)
	for _, in := range inputs(t) {
		b, _ := os.ReadFile(in)
		for _, ia := range []connectors.Interaction{connectors.Create, connectors.Update} {
			res, err := c.Deliver(context.Background(), connectors.Delivery{TransferID: "tr_x", Interaction: ia,
				ResourceType: "Patient", Resource: b, IdempotencyKey: "k-" + string(ia) + filepath.Base(in)})
			if err != nil || res.Status != 200 || !strings.HasPrefix(res.VendorID, "cus_") {
				t.Fatalf("%s %s: %+v %v", ia, filepath.Base(in), res, err)
			}
		}
	}

	_, err := c.send(context.Background(), outbound.Request{Method: http.MethodPost, URL: c.base + "/v1/customers",
		Body: []byte("name=x&not_a_stripe_param=Zzsecret"), IdempotencyKey: "k-400",
		Header: http.Header{"Authorization": {"Bearer " + c.key}, "Content-Type": {"application/x-www-form-urlencoded"}}})
	var ce *connectors.Error
	if !errors.As(err, &ce) || ce.Class != connectors.Permanent || ce.Status != 400 || ce.Code != "stripe_invalid_request_error" {
		t.Fatalf("400: %v", err)
	}
	if strings.Contains(err.Error(), "Zzsecret") || strings.Contains(err.Error(), "validat") {
		t.Fatalf("the error copies Stripe's message: %v", err)
	}

	bad, _ := build(t, `{base_url: "`+base+`"}`, map[string]string{"STRIPE_API_KEY": "not_a_stripe_key"})
	_, err = bad.Deliver(context.Background(), connectors.Delivery{Interaction: connectors.Create, ResourceType: "Patient",
		Resource: []byte(`{"resourceType":"Patient"}`), IdempotencyKey: "k"})
	if !errors.As(err, &ce) || ce.Class != connectors.Permanent || ce.Status != 401 {
		t.Fatalf("bad key: %v", err)
	}
}

// recorder is a Stripe stand-in that records requests and answers as told.
type recorder struct {
	mu   sync.Mutex
	reqs []recorded
}

type recorded struct {
	method, path, body string
	header             http.Header
}

func (r *recorder) serve(t *testing.T, answer func(w http.ResponseWriter)) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.reqs = append(r.reqs, recorded{req.Method, req.URL.Path, string(b), req.Header.Clone()})
		r.mu.Unlock()
		answer(w)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestWhatIsSent(t *testing.T) {
	var rec recorder
	c := mustBuild(t, rec.serve(t, func(w http.ResponseWriter) { _, _ = w.Write([]byte(`{"id":"cus_A1","object":"customer"}`)) }))
	cases := []struct{ input, path string }{
		{"patient-full.json", "/v1/customers"},
		{"patient-with-stripe-identifier.json", "/v1/customers/cus_NffrFeUfNV2Hib"},
	}
	for _, tc := range cases {
		t.Run(tc.input, func(t *testing.T) {
			in := filepath.Join(testenv.RepoRoot(t), "testdata", "mappings", "stripe", tc.input)
			b, _ := os.ReadFile(in)
			res, err := c.Deliver(context.Background(), connectors.Delivery{TransferID: "tr_golden", Interaction: connectors.Update,
				ResourceType: "Patient", Resource: b, IdempotencyKey: "idem-1"})
			if err != nil || res.VendorID != "cus_A1" {
				t.Fatalf("%+v %v", res, err)
			}
			rec.mu.Lock()
			got := rec.reqs[len(rec.reqs)-1]
			rec.mu.Unlock()
			golden, _ := os.ReadFile(strings.TrimSuffix(in, ".json") + ".golden.form")
			want := strings.ReplaceAll(strings.TrimSpace(string(golden)), "\n", "&")
			if got.method != http.MethodPost || got.path != tc.path || got.body != want {
				t.Fatalf("sent %s %s %s", got.method, got.path, got.body)
			}
			h := got.header
			if h.Get("Authorization") != "Bearer sk_test_123" || h.Get("Idempotency-Key") != "idem-1" ||
				h.Get("Content-Type") != "application/x-www-form-urlencoded" || h.Get("Stripe-Version") != "" {
				t.Fatalf("headers %v", h)
			}
		})
	}
}

func TestStripeAnswersAreClassified(t *testing.T) {
	cases := []struct {
		name        string
		status      int
		shouldRetry string
		body        string
		class       connectors.Class
		code        string
		calls       int
	}{
		{"5xx is retryable, retried inline", 500, "", `{"error":{"type":"api_error","message":"echoes Zzsecret"}}`,
			connectors.Retryable, "stripe_api_error", 2},
		{"Stripe-Should-Retry false beats a 5xx", 500, "false", `{"error":{"type":"api_error"}}`,
			connectors.Permanent, "stripe_api_error", 1},
		{"Stripe-Should-Retry true beats a 4xx", 400, "true", `{"error":{"type":"idempotency_error","code":"idempotency_key_in_use"}}`,
			connectors.Retryable, "stripe_idempotency_error:idempotency_key_in_use", 2},
		{"a card error keeps its code, not its message", 402, "", `{"error":{"type":"card_error","code":"card_declined","message":"Zzsecret"}}`,
			connectors.Permanent, "stripe_card_error:card_declined", 1},
		{"an odd type is not copied", 400, "", `{"error":{"type":"Zzsecret value"}}`, connectors.Permanent, "http_400", 1},
		{"no JSON: the status", 502, "", `<html>bad gateway</html>`, connectors.Retryable, "http_502", 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var rec recorder
			c := mustBuild(t, rec.serve(t, func(w http.ResponseWriter) {
				if tc.shouldRetry != "" {
					w.Header().Set("Stripe-Should-Retry", tc.shouldRetry)
				}
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			}))
			_, err := c.Deliver(context.Background(), connectors.Delivery{Interaction: connectors.Create, ResourceType: "Patient",
				Resource: []byte(`{"resourceType":"Patient"}`), IdempotencyKey: "k"})
			var ce *connectors.Error
			if !errors.As(err, &ce) || ce.Class != tc.class || ce.Code != tc.code || ce.Status != tc.status {
				t.Fatalf("%v", err)
			}
			if strings.Contains(err.Error(), "Zzsecret") {
				t.Fatalf("vendor message copied: %v", err)
			}
			if len(rec.reqs) != tc.calls {
				t.Fatalf("%d calls, want %d", len(rec.reqs), tc.calls)
			}
		})
	}
}

func TestUnsupportedDeliveries(t *testing.T) {
	c := mustBuild(t, "http://127.0.0.1:1")
	cases := []struct {
		name string
		d    connectors.Delivery
		code string
	}{
		{"not a Patient", connectors.Delivery{Interaction: connectors.Create, ResourceType: "Observation", Resource: []byte(`{"resourceType":"Observation"}`)}, "unsupported_resource"},
		{"not create or update", connectors.Delivery{Interaction: "delete", ResourceType: "Patient", Resource: []byte(`{"resourceType":"Patient"}`)}, "unsupported_interaction"},
		{"body is not a Patient", connectors.Delivery{Interaction: connectors.Create, ResourceType: "Patient", Resource: []byte(`{"resourceType":"Group"}`)}, "mapping"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Deliver(context.Background(), tc.d)
			var ce *connectors.Error
			if !errors.As(err, &ce) || ce.Class != connectors.Permanent || ce.Code != tc.code {
				t.Fatalf("%v", err)
			}
		})
	}
}
