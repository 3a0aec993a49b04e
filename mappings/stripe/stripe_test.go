package stripe

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// Golden tests: testdata/mappings/stripe/*.json (FHIR Patients) to
// *.golden.form (the Stripe request body, keys sorted).
func TestGolden(t *testing.T) {
	inputs, _ := filepath.Glob(filepath.Join("..", "..", "testdata", "mappings", "stripe", "*.json"))
	if len(inputs) == 0 {
		t.Fatal("no golden inputs")
	}
	for _, in := range inputs {
		t.Run(filepath.Base(in), func(t *testing.T) {
			src, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			v, err := Customer(src, "tr_golden")
			if err != nil {
				t.Fatal(err)
			}
			got := strings.ReplaceAll(v.Encode(), "&", "\n") + "\n"
			golden := strings.TrimSuffix(in, ".json") + ".golden.form"
			if *update {
				_ = os.WriteFile(golden, []byte(got), 0o644)
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update)", err)
			}
			if got != string(want) {
				t.Fatalf("mapping differs from %s:\n%s", golden, got)
			}
			for _, clinical := range []string{"birth", "gender", "1990-04-01"} {
				if strings.Contains(got, clinical) {
					t.Errorf("Stripe must not receive %q", clinical)
				}
			}
		})
	}
}

func TestCustomerID(t *testing.T) {
	if id := CustomerID([]byte(`{"resourceType":"Patient","identifier":[{"system":"` + IdentifierSystem + `","value":"cus_123"}]}`)); id != "cus_123" {
		t.Fatal(id)
	}
	if id := CustomerID([]byte(`{"resourceType":"Patient"}`)); id != "" {
		t.Fatal(id)
	}
}
