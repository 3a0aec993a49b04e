package candidsim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/switchboard-health/switchboard/cmd/vendorsim/candidsim"
	"github.com/switchboard-health/switchboard/connectors"
	_ "github.com/switchboard-health/switchboard/connectors/candid"
	"github.com/switchboard-health/switchboard/hub/route"
)

// connector builds the real candid connector through the registry, as the
// hub does from its routing file, pointed at base.
func connector(t *testing.T, base string) connectors.Connector {
	t.Helper()
	table, err := route.Parse([]byte(`
destinations:
  billing:
    type: candid
    config:
      base_url: `+base+`
      billing_npi: "1234567893"
      billing_tax_id: "987654321"
      billing_organization_name: Default Billing Group
      billing_address1: 500 Billing St
      billing_city: Springfield
      billing_state: IL
      billing_zip: "62704"
      billing_zip_plus_four: "1000"
      place_of_service_code: "11"
      retry_max: 0
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	d := table.Destinations["billing"]
	spec, _ := connectors.Lookup(d.Type)
	conn, err := spec.New(connectors.Params{Name: "billing", Decode: d.Decoder(),
		Env: func(name string) (string, bool) {
			return map[string]string{"CANDID_CLIENT_ID": "sbx-id", "CANDID_CLIENT_SECRET": "sbx-secret"}[name], true
		}})
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

// claim reads a golden input as the hub hands it over: a bare Claim, or
// {"resource","related"} for a Claim whose Patient and Coverage came in the
// same transaction.
func claim(t *testing.T, name string) connectors.Delivery {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("..", "..", "..", "testdata", "mappings", "candid", name))
	if err != nil {
		t.Fatal(err)
	}
	d := connectors.Delivery{TransferID: "tr_bill", Destination: "billing", Interaction: connectors.Create,
		ResourceType: "Claim", Resource: src, IdempotencyKey: "tr_bill/0/billing", Attempt: 1}
	var w struct {
		Resource json.RawMessage            `json:"resource"`
		Related  map[string]json.RawMessage `json:"related"`
	}
	if json.Unmarshal(src, &w) == nil && w.Resource != nil {
		d.Resource, d.Related = w.Resource, map[string][]byte{}
		for k, v := range w.Related {
			d.Related[k] = v
		}
	}
	return d
}

// The real connector against the sandbox: one encounter per Claim, however
// often the Claim is delivered, and its status read back as a ClaimResponse.
func TestRealConnector(t *testing.T) {
	cases := []struct{ input, externalID string }{
		{"claim-contained.json", "claim-1001"},
		{"claim-related.json", "claim-2002"},
	}
	for _, tc := range cases {
		t.Run(tc.input, func(t *testing.T) {
			sim := candidsim.New(candidsim.Options{ClientID: "sbx-id", ClientSecret: "sbx-secret"})
			srv := httptest.NewServer(sim)
			defer srv.Close()
			conn := connector(t, srv.URL)
			ctx := context.Background()

			d := claim(t, tc.input)
			res, err := conn.Deliver(ctx, d)
			if err != nil || res.VendorID == "" || res.Status != 200 {
				t.Fatalf("deliver: %+v %v", res, err)
			}
			// The same delivery again, as the queue retries it after a lost
			// answer: Candid refuses the known external_id, nothing is
			// billed twice, and the connector finds the encounter made.
			d.Attempt = 2
			again, err := conn.Deliver(ctx, d)
			if err != nil || again.VendorID != res.VendorID {
				t.Fatalf("second delivery: %+v %v, want the first encounter %s", again, err, res.VendorID)
			}
			writes := sim.Received()
			if len(writes) != 2 || writes[0].Effect != candidsim.EffectCreated || writes[0].ID != res.VendorID ||
				writes[1].Effect != candidsim.EffectRejected || writes[1].ID != res.VendorID {
				t.Fatalf("received %d writes, want the create and the refused duplicate", len(writes))
			}
			if writes[0].Body["external_id"] != tc.externalID || writes[0].IdempotencyKey != "tr_bill/0/billing" {
				t.Fatalf("create: external_id %v key %q", writes[0].Body["external_id"], writes[0].IdempotencyKey)
			}
			if l := sim.Log(); l.Effects != 1 || l.DuplicateEffects != 0 {
				t.Fatalf("effects %d duplicates %d", l.Effects, l.DuplicateEffects)
			}

			s := conn.(connectors.Searcher)
			search := func() []byte {
				page, err := s.Search(ctx, connectors.SearchQuery{ResourceType: "ClaimResponse",
					Params: url.Values{"identifier": {"https://switchboard.health/id/candid-encounter|" + res.VendorID}}})
				if err != nil || len(page.Resources) != 1 {
					t.Fatalf("search: %d %v", len(page.Resources), err)
				}
				return page.Resources[0]
			}
			if cr := search(); !bytes.Contains(cr, []byte(`"outcome":"queued"`)) || !bytes.Contains(cr, []byte(`"reference":"Claim/`+tc.externalID+`"`)) {
				t.Fatalf("before adjudication: %s", cr)
			}
			if err := sim.SetClaimStatus(res.VendorID, "paid"); err != nil {
				t.Fatal(err)
			}
			if cr := search(); !bytes.Contains(cr, []byte(`"outcome":"complete"`)) {
				t.Fatalf("after payment: %s", cr)
			}
			// An expired token is dropped by the connector and fetched again
			// on the next attempt.
			sim.ExpireTokens()
			if _, err := s.Search(ctx, connectors.SearchQuery{ResourceType: "ClaimResponse",
				Params: url.Values{"identifier": {res.VendorID}}}); connectors.ClassOf(err) != connectors.Retryable {
				t.Fatalf("expired token: %v, want retryable", err)
			}
			search()
		})
	}
}
