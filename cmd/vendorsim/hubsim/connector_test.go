package hubsim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/switchboard-health/switchboard/cmd/vendorsim/hubsim"
	"github.com/switchboard-health/switchboard/connectors"
	_ "github.com/switchboard-health/switchboard/connectors/hubspot"
	"github.com/switchboard-health/switchboard/hub/route"
)

// connector builds the real hubspot connector through the registry, as the
// hub does from its routing file, pointed at base.
func connector(t *testing.T, base string) connectors.Connector {
	t.Helper()
	table, err := route.Parse([]byte(`
destinations:
  marketing:
    type: hubspot
    config:
      base_url: `+base+`
      token_env: HUBSPOT_TOKEN
      retry_max: 0
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	d := table.Destinations["marketing"]
	spec, _ := connectors.Lookup(d.Type)
	conn, err := spec.New(connectors.Params{Name: "marketing", Decode: d.Decoder(),
		Env: func(name string) (string, bool) { return map[string]string{"HUBSPOT_TOKEN": "pat-sbx"}[name], true }})
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

// The real connector against the sandbox: one contact per email, however
// often the Patient is delivered, readable back by search and by email.
func TestRealConnector(t *testing.T) {
	sim := hubsim.New(hubsim.Options{Token: "pat-sbx"})
	srv := httptest.NewServer(sim)
	defer srv.Close()
	conn := connector(t, srv.URL)
	ctx := context.Background()

	patient, err := os.ReadFile(filepath.Join("..", "..", "..", "testdata", "mappings", "hubspot", "patient-full.json"))
	if err != nil {
		t.Fatal(err)
	}
	d := connectors.Delivery{TransferID: "tr_mkt", Destination: "marketing", Interaction: connectors.Create,
		ResourceType: "Patient", Resource: patient, IdempotencyKey: "tr_mkt/0/marketing", Attempt: 1}
	first, err := conn.Deliver(ctx, d)
	if err != nil || first.VendorID == "" || first.Status != 200 {
		t.Fatalf("deliver: %+v %v", first, err)
	}
	d.Attempt = 2 // the queue's retry of the same delivery
	again, err := conn.Deliver(ctx, d)
	if err != nil || again.VendorID != first.VendorID {
		t.Fatalf("second delivery: %+v %v, want contact %s", again, err, first.VendorID)
	}
	writes := sim.Received()
	if len(writes) != 2 || writes[0].Effect != hubsim.EffectCreated || writes[1].Effect != hubsim.EffectUnchanged {
		t.Fatalf("received %d writes, want a create then an unchanged upsert", len(writes))
	}
	in := writes[0].Body["inputs"].([]any)[0].(map[string]any)
	props := in["properties"].(map[string]any)
	if in["idProperty"] != "email" || in["id"] != "alex@example.org" || props["switchboard_fhir_id"] != "sb-patient-1" || props["birthdate"] != nil {
		t.Fatalf("upsert input %v", in)
	}
	if l := sim.Log(); l.Effects != 1 || l.DuplicateEffects != 0 {
		t.Fatalf("effects %d duplicates %d", l.Effects, l.DuplicateEffects)
	}

	page, err := conn.(connectors.Searcher).Search(ctx, connectors.SearchQuery{ResourceType: "Patient",
		Params: url.Values{"email": {"alex@example.org"}}})
	if err != nil || len(page.Resources) != 1 || !bytes.Contains(page.Resources[0], []byte(`"value":"`+first.VendorID+`"`)) {
		t.Fatalf("search: %d %v", len(page.Resources), err)
	}
	// The connector's read by email (GET …/contacts/{email}?idProperty=email).
	reader, ok := conn.(interface {
		ReadByEmail(ctx context.Context, email string) (json.RawMessage, error)
	})
	if !ok {
		t.Fatal("the hubspot connector no longer reads by email")
	}
	p, err := reader.ReadByEmail(ctx, "alex@example.org")
	if err != nil || !bytes.Contains(p, []byte(`"given":["Alex"]`)) {
		t.Fatalf("read by email: %s %v", p, err)
	}
}
