package stripe

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/switchboard-health/switchboard/connectors"
	"github.com/switchboard-health/switchboard/hub/testenv"
)

func build(t *testing.T, base string, env map[string]string) (connectors.Connector, error) {
	t.Helper()
	return New(connectors.Params{
		Name:   "payments",
		Decode: func(into any) error { return yaml.Unmarshal([]byte(`{base_url: "`+base+`", retry_max: -1}`), into) },
		Env:    func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		Logger: slog.New(slog.DiscardHandler),
	})
}

func TestMissingKeyNamesTheVariable(t *testing.T) {
	if _, err := build(t, "http://127.0.0.1:1", nil); err == nil || !strings.Contains(err.Error(), "STRIPE_API_KEY") {
		t.Fatalf("%v", err)
	}
}

// Every golden Patient, through the connector, is accepted by stripe-mock,
// which validates parameters against Stripe's own OpenAPI spec.
func TestGoldenRequestsAgainstStripeMock(t *testing.T) {
	c, err := build(t, testenv.StripeMock(t), map[string]string{"STRIPE_API_KEY": "sk_test_123"})
	if err != nil {
		t.Fatal(err)
	}
	inputs, _ := filepath.Glob(filepath.Join(testenv.RepoRoot(t), "testdata", "mappings", "stripe", "*.json"))
	if len(inputs) == 0 {
		t.Fatal("no inputs")
	}
	for _, in := range inputs {
		b, _ := os.ReadFile(in)
		res, err := c.Deliver(context.Background(), connectors.Delivery{TransferID: "tr_x", Interaction: connectors.Create,
			ResourceType: "Patient", Resource: b, IdempotencyKey: "k-" + filepath.Base(in)})
		if err != nil || res.Status != 200 || !strings.HasPrefix(res.VendorID, "cus_") {
			t.Fatalf("%s: %+v %v", filepath.Base(in), res, err)
		}
	}
	t.Logf("stripe-mock accepted %d golden requests", len(inputs))
	_, err = c.Deliver(context.Background(), connectors.Delivery{Interaction: connectors.Create, ResourceType: "Observation", Resource: []byte(`{}`)})
	if connectors.ClassOf(err) != connectors.Permanent {
		t.Fatalf("unsupported type: %v", err)
	}
}

func TestBadKeyIsPermanentAnd5xxRetryable(t *testing.T) {
	c, _ := build(t, testenv.StripeMock(t), map[string]string{"STRIPE_API_KEY": "not_a_stripe_key"})
	_, err := c.Deliver(context.Background(), connectors.Delivery{ResourceType: "Patient", Resource: []byte(`{"resourceType":"Patient"}`), IdempotencyKey: "k"})
	var ce *connectors.Error
	if !errors.As(err, &ce) || ce.Class != connectors.Permanent || ce.Status != 401 {
		t.Fatalf("bad key: %v", err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(500)
		_, _ = w.Write([]byte(`{"error":{"type":"api_error","message":"echoes Zzsecret"}}`))
	}))
	defer srv.Close()
	c2, _ := build(t, srv.URL, map[string]string{"STRIPE_API_KEY": "sk_test_1"})
	_, err = c2.Deliver(context.Background(), connectors.Delivery{ResourceType: "Patient", Resource: []byte(`{"resourceType":"Patient"}`), IdempotencyKey: "k"})
	if !errors.As(err, &ce) || ce.Class != connectors.Retryable || ce.Code != "http_500:api_error" || strings.Contains(err.Error(), "Zzsecret") {
		t.Fatalf("5xx: %v", err)
	}
}
