package candid

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// goldenOptions are the connector defaults the goldens are made with; the
// connector's tests configure the same values.
var goldenOptions = Options{
	BillingProvider: Provider{NPI: "1234567893", TaxID: "987654321", OrganizationName: "Default Billing Group",
		Address1: "500 Billing St", City: "Springfield", State: "IL", Zip: "62704", ZipPlusFour: "1000"},
	PlaceOfServiceCode: "11",
}

// input is a golden input: a bare resource, or {"resource":…, "related":{ref: resource}}.
func input(t *testing.T, path string) ([]byte, map[string][]byte) {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var w struct {
		Resource json.RawMessage            `json:"resource"`
		Related  map[string]json.RawMessage `json:"related"`
	}
	if json.Unmarshal(src, &w) != nil || w.Resource == nil {
		return src, nil
	}
	rel := map[string][]byte{}
	for k, v := range w.Related {
		rel[k] = v
	}
	return w.Resource, rel
}

func pretty(t *testing.T, b []byte) []byte {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	out, _ := json.MarshalIndent(v, "", "  ") // maps: keys sorted
	return append(out, '\n')
}

// Golden tests: testdata/mappings/candid/claim-*.json (FHIR Claims, synthetic)
// to the EncounterCreate body; vendor-*.json (Candid encounters) to a FHIR
// ClaimResponse. Goldens are pretty-printed with sorted keys.
func TestGolden(t *testing.T) {
	inputs, _ := filepath.Glob(filepath.Join("..", "..", "testdata", "mappings", "candid", "*.json"))
	n := 0
	for _, in := range inputs {
		if strings.HasSuffix(in, ".golden.json") {
			continue
		}
		n++
		t.Run(filepath.Base(in), func(t *testing.T) {
			src, rel := input(t, in)
			var out []byte
			var err error
			if strings.HasPrefix(filepath.Base(in), "vendor-") {
				out, err = ClaimResponse(src)
			} else {
				out, err = EncounterCreate(src, rel, goldenOptions)
			}
			if err != nil {
				t.Fatal(err)
			}
			got := pretty(t, out)
			golden := strings.TrimSuffix(in, ".json") + ".golden.json"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./mappings/candid/ -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("mapping differs from %s:\n%s", golden, got)
			}
		})
	}
	if n < 3 {
		t.Fatalf("want at least 3 golden inputs, found %d", n)
	}
}

func TestEncounterCreateFields(t *testing.T) {
	src, _ := os.ReadFile(filepath.Join("..", "..", "testdata", "mappings", "candid", "claim-contained.json"))
	out, err := EncounterCreate(src, nil, goldenOptions)
	if err != nil {
		t.Fatal(err)
	}
	var e encounterCreate
	if err := json.Unmarshal(out, &e); err != nil {
		t.Fatal(err)
	}
	if e.ExternalID != "claim-1001" || e.DateOfService != "2026-11-01" || e.PlaceOfServiceCode != "11" {
		t.Errorf("external_id %q, date_of_service %q, place_of_service_code %q", e.ExternalID, e.DateOfService, e.PlaceOfServiceCode)
	}
	if e.Diagnoses[0].Code != "J069" || e.Diagnoses[0].CodeType != "ABK" || e.Diagnoses[1].CodeType != "ABF" {
		t.Errorf("diagnoses %+v", e.Diagnoses)
	}
	if got := *e.ServiceLines[1].ChargeAmountCents; got != 2500 {
		t.Errorf("2 x 12.5 USD = %d cents, want 2500", got)
	}
	if p := e.ServiceLines[1].DiagnosisPointers; len(p) != 1 || p[0] != 1 {
		t.Errorf("diagnosisSequence [2] -> pointers %v, want [1]", p)
	}
	if e.BillingProvider.NPI != "1234567893" || e.RenderingProvider.NPI != "1234567893" {
		t.Errorf("default provider not used: %+v %+v", e.BillingProvider, e.RenderingProvider)
	}
}

func TestEncounterCreateErrors(t *testing.T) {
	src, _ := os.ReadFile(filepath.Join("..", "..", "testdata", "mappings", "candid", "claim-contained.json"))
	edit := func(f func(m map[string]any)) []byte {
		var m map[string]any
		_ = json.Unmarshal(src, &m)
		f(m)
		b, _ := json.Marshal(m)
		return b
	}
	item := func(m map[string]any) map[string]any { return m["item"].([]any)[0].(map[string]any) }
	tests := []struct {
		name string
		src  []byte
		opts Options
		want string
	}{
		{"no diagnosis", edit(func(m map[string]any) { delete(m, "diagnosis") }), goldenOptions, "no diagnosis"},
		{"no service line", edit(func(m map[string]any) { delete(m, "item") }), goldenOptions, "no item"},
		{"fractional cents", edit(func(m map[string]any) { item(m)["unitPrice"] = map[string]any{"value": 150.005, "currency": "USD"} }), goldenOptions, "fraction of a cent"},
		{"not USD", edit(func(m map[string]any) { item(m)["unitPrice"] = map[string]any{"value": 10, "currency": "EUR"} }), goldenOptions, "USD only"},
		{"missing coverage", edit(func(m map[string]any) { delete(m, "insurance") }), goldenOptions, "Claim.insurance.coverage"},
		{"no billing provider", src, Options{PlaceOfServiceCode: "11"}, "no billing provider"},
		{"no place of service", src, Options{BillingProvider: goldenOptions.BillingProvider}, "no place of service"},
		{"not a claim", []byte(`{"resourceType":"Patient"}`), goldenOptions, "not a Claim"},
	}
	phi := []string{"Testperson", "Alex", "1980-05-17", "Synthetic Way", "Springfield", "MBR123456", "J06.9", "150"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := EncounterCreate(tt.src, nil, tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one saying %q", err, tt.want)
			}
			for _, s := range phi {
				if strings.Contains(err.Error(), s) {
					t.Errorf("error quotes the input (%q): %v", s, err)
				}
			}
		})
	}
}

func TestOutcome(t *testing.T) {
	for status, want := range map[string]string{"paid": "complete", "finalized_paid": "complete", "denied": "error",
		"rejected": "error", "submitted_to_payer": "queued", "": "queued", "era_requires_review": "partial"} {
		if got := Outcome(status); got != want {
			t.Errorf("Outcome(%q) = %q, want %q", status, got, want)
		}
	}
	if _, err := ClaimResponse([]byte(`{"external_id":"x"}`)); err == nil {
		t.Error("an encounter without encounter_id must be refused")
	}
}
