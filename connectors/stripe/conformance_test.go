//go:build conformance

package stripe

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchboard-health/switchboard/connectors"
	"github.com/switchboard-health/switchboard/connectors/outbound"
)

// TestConformance sends every golden request (customers, invoice items,
// invoices) and one Deliver flow per golden input to stripe-mock, which
// validates parameters against Stripe's published OpenAPI spec, as run by
// `make conformance` (the shared vendor mocks). Any refusal fails.
func TestConformance(t *testing.T) {
	base := os.Getenv("VENDOR_MOCK_STRIPE_URL")
	if base == "" {
		t.Fatal("VENDOR_MOCK_STRIPE_URL is unset: run make conformance (it starts the shared vendor mocks)")
	}
	c := mustBuild(t, base)
	ctx := context.Background()
	checked, violations := 0, 0
	send := func(what string, r outbound.Request) {
		t.Helper()
		checked++
		res, err := c.send(ctx, r)
		if err != nil || res.Status != http.StatusOK {
			violations++
			t.Errorf("%s: stripe-mock refused it: %+v %v", what, res, err)
		}
	}
	for _, in := range inputs(t) {
		golden, err := os.ReadFile(strings.TrimSuffix(in, ".json") + ".golden.form")
		if err != nil {
			t.Fatal(err)
		}
		send(filepath.Base(in), outbound.Request{Method: http.MethodPost, URL: c.base + "/v1/customers",
			Body: []byte(strings.ReplaceAll(strings.TrimSpace(string(golden)), "\n", "&")), Header: c.header(),
			IdempotencyKey: "conformance-" + filepath.Base(in)})
		src, _ := os.ReadFile(in)
		checked++
		if _, err := c.Deliver(ctx, connectors.Delivery{TransferID: "tr_conformance", Interaction: connectors.Create,
			ResourceType: "Patient", Resource: src, IdempotencyKey: "conformance-deliver-" + filepath.Base(in)}); err != nil {
			violations++
			t.Errorf("%s: Deliver: %v", filepath.Base(in), err)
		}
	}
	for _, in := range billingInputs(t) {
		calls := goldenCalls(t, in)
		for i, gc := range calls {
			send(fmt.Sprintf("%s call %d", filepath.Base(in), i+1), outbound.Request{Method: gc.method, URL: c.base + gc.path,
				Body: []byte(gc.body), Header: c.header(), IdempotencyKey: fmt.Sprintf("conformance-%s-%d", filepath.Base(in), i)})
		}
		checked += len(calls)
		checked++
		if _, err := c.Deliver(ctx, billingDelivery(t, in, "conformance-deliver-"+filepath.Base(in))); err != nil {
			violations++
			t.Errorf("%s: Deliver: %v", filepath.Base(in), err)
		}
	}
	fmt.Printf("conformance: stripe: %d requests checked, %d violations\n", checked, violations)
}
