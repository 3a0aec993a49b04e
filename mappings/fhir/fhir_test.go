package fhir

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

// Golden tests: testdata/mappings/fhir/*.json in, *.golden.json out.
func TestGolden(t *testing.T) {
	inputs, _ := filepath.Glob(filepath.Join("..", "..", "testdata", "mappings", "fhir", "*.json"))
	n := 0
	for _, in := range inputs {
		if strings.HasSuffix(in, ".golden.json") {
			continue
		}
		n++
		t.Run(filepath.Base(in), func(t *testing.T) {
			src, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Outbound(src)
			if err != nil {
				t.Fatal(err)
			}
			var pretty bytes.Buffer
			if err := json.Indent(&pretty, got, "", "  "); err != nil {
				t.Fatal(err)
			}
			pretty.WriteByte('\n')
			golden := strings.TrimSuffix(in, ".json") + ".golden.json"
			if *update {
				if err := os.WriteFile(golden, pretty.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update)", err)
			}
			if !bytes.Equal(pretty.Bytes(), want) {
				t.Fatalf("mapping differs from %s:\n%s", golden, pretty.Bytes())
			}
			// Idempotent: mapping twice adds the marks once.
			again, _ := Outbound(got)
			if !bytes.Equal(again, got) {
				t.Fatal("second mapping changed the resource")
			}
			if !MadeByHub(got) {
				t.Fatal("the mapped resource does not name the hub in meta.source")
			}
			// Everything else is preserved exactly (decimals included).
			var a, b map[string]json.RawMessage
			_ = json.Unmarshal(src, &a)
			_ = json.Unmarshal(got, &b)
			for k, v := range a {
				if k == "meta" {
					continue
				}
				if !bytes.Equal(compact(v), compact(b[k])) {
					t.Errorf("member %s changed", k)
				}
			}
		})
	}
	if n == 0 {
		t.Fatal("no golden inputs")
	}
}

func compact(b []byte) []byte {
	var out bytes.Buffer
	_ = json.Compact(&out, b)
	return out.Bytes()
}

func TestConditionalCreate(t *testing.T) {
	cases := map[string]string{
		`{"resourceType":"Patient","identifier":[{"value":"x"},{"system":"https://c.example/mrn","value":"M 1"}]}`: "identifier=https%3A%2F%2Fc.example%2Fmrn%7CM+1",
		`{"resourceType":"Patient"}`: "",
	}
	for in, want := range cases {
		if got := ConditionalCreate([]byte(in)); got != want {
			t.Errorf("%s: %q, want %q", in, got, want)
		}
	}
}

// TestOriginSource: every version the hub writes names the hub in
// meta.source, over a client's own source, and only that (not the tag a
// server may carry forward into a clinician's next version) marks it as the
// hub's.
func TestOriginSource(t *testing.T) {
	out, err := Outbound([]byte(`{"resourceType":"Patient","meta":{"source":"https://app.example/intake","tag":[{"system":"` + OriginSystem + `","code":"` + OriginCode + `"}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Meta struct {
			Source string
			Tag    []struct{ System, Code string }
		}
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	if got.Meta.Source != OriginSource || len(got.Meta.Tag) != 1 {
		t.Fatalf("a client's source must give way to the hub's, the tag stay single: %s", out)
	}
	tests := []struct {
		name     string
		resource string
		want     bool
	}{
		{"written by the hub", `{"resourceType":"Patient","meta":{"source":"` + OriginSource + `"}}`, true},
		{"request id appended by the server", `{"resourceType":"Patient","meta":{"source":"` + OriginSource + `#a1b2c3"}}`, true},
		{"clinician's edit keeps the tag", `{"resourceType":"Patient","meta":{"tag":[{"system":"` + OriginSystem + `","code":"` + OriginCode + `"}]}}`, false},
		{"another author", `{"resourceType":"Patient","meta":{"source":"https://ehr.example/clinician-app"}}`, false},
		{"a longer URI sharing the prefix", `{"resourceType":"Patient","meta":{"source":"` + OriginSource + `-fake"}}`, false},
		{"no meta", `{"resourceType":"Patient"}`, false},
		{"not JSON", `not json`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := MadeByHub([]byte(tc.resource)); got != tc.want {
				t.Fatalf("MadeByHub = %v, want %v", got, tc.want)
			}
		})
	}
	if !MadeByHub(out) {
		t.Fatal("Outbound's result must count as the hub's")
	}
}
