//go:build conformance

package candid

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchboard-health/switchboard/connectors"
)

// TestConformance sends every golden request in testdata/mappings/candid
// through the real connector to the Prism mock of Candid's OpenAPI spec, as
// run by `make conformance`, then an end-to-end flow (token, encounter,
// ClaimResponse search). Prism refuses any request the spec does not allow;
// on a refusal the request is replayed here to print Prism's violations
// (the data is synthetic).
func TestConformance(t *testing.T) {
	base := os.Getenv("VENDOR_MOCK_CANDID_URL")
	if base == "" {
		t.Fatal("VENDOR_MOCK_CANDID_URL is unset: run make conformance (it starts the shared vendor mocks)")
	}
	c := mustBuild(t, base)
	ctx := context.Background()
	checked, violations := 0, 0
	explain := func(method, path string, body []byte) {
		req, _ := http.NewRequest(method, base+path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer conformance")
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Logf("replay: %v", err)
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		t.Logf("Prism says %d: %s", resp.StatusCode, b)
	}

	inputs, _ := filepath.Glob(testdata("claim-*.json"))
	var claims []string
	for _, in := range inputs {
		if !strings.HasSuffix(in, ".golden.json") {
			claims = append(claims, in)
		}
	}
	if len(claims) == 0 {
		t.Fatal("no golden Claims")
	}
	var lastID string
	for _, in := range claims {
		checked += 2 // the token call and the encounter
		res, err := c.Deliver(ctx, delivery(t, in, "conformance-"+filepath.Base(in)))
		if err != nil {
			violations++
			t.Errorf("%s: Deliver: %v", filepath.Base(in), err)
			golden, _ := os.ReadFile(strings.TrimSuffix(in, ".json") + ".golden.json")
			explain(http.MethodPost, "/api/encounters/v4", golden)
			continue
		}
		if res.VendorID == "" {
			violations++
			t.Errorf("%s: no encounter_id in the answer", filepath.Base(in))
		}
		lastID = res.VendorID
		c.drop(c.token) // so the next delivery exercises the token call again
	}

	// End to end: the encounter just made, read back as a ClaimResponse.
	// Prism is stateless: it answers the spec's example, so what is checked
	// is the request and that the answer maps.
	checked++
	page, err := c.Search(ctx, connectors.SearchQuery{ResourceType: "ClaimResponse",
		Params: url.Values{"identifier": {"https://switchboard.health/id/candid-encounter|" + lastID}}})
	switch {
	case err != nil:
		violations++
		t.Errorf("search: %v", err)
		explain(http.MethodGet, "/api/encounters/v4/"+url.PathEscape(lastID), nil)
	case len(page.Resources) != 1 || !bytes.Contains(page.Resources[0], []byte(`"ClaimResponse"`)):
		violations++
		t.Errorf("search: %d resources, want one ClaimResponse", len(page.Resources))
	}
	// The look-up after a refused duplicate external_id (a lost answer's
	// retry): GET /api/encounters/v4?external_id=.
	checked++
	if _, err := c.existing(ctx, []byte(`{"external_id":"claim-1001"}`)); err != nil {
		var ce *connectors.Error
		// Prism's example page may list nothing: only a refused request is a violation.
		if !strings.Contains(err.Error(), "no encounter lists it") || (errors.As(err, &ce) && ce.Status >= 400) {
			violations++
			t.Errorf("external_id look-up: %v", err)
		}
	}
	fmt.Printf("conformance: candid: %d requests checked, %d violations\n", checked, violations)
}
