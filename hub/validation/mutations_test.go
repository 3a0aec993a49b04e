package validation

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/switchboard-health/switchboard/hub/testenv"
)

// TestDifferentialMutations mutates HL7 examples the way a client errs,
// one element at a time (each value replaced by a string, a date, a code,
// a reference, a number, a boolean, an empty or an Element-shaped object,
// an array, null, or removed), and requires both validators to agree on
// every mutant. It reads every twentieth example up to 8 KB (about 12,000
// mutants); without ../shared it mutates the project's samples.
func TestDifferentialMutations(t *testing.T) {
	v := mustValidator(t)
	root := testenv.RepoRoot(t)
	files, _ := filepath.Glob(filepath.Join(root, "..", "shared", "fhir-r4-examples", "*.json"))
	step := 20
	if len(files) == 0 {
		files, _ = filepath.Glob(filepath.Join(root, "testdata", "fhir", "valid", "*.json"))
		step = 1
	}
	variants := []any{"", "x", "2020-13-01", "2020", "MALE", "Patient/1", "#x", "a b", 5, -1, 1.5, true, map[string]any{}, []any{}, nil, []any{"x"}, map[string]any{"id": "x"}, map[string]any{"extension": []any{map[string]any{"url": "http://x"}}}}
	seen := map[string]int{}
	n := 0
	for fi, f := range files {
		if fi%step != 0 {
			continue
		}
		b, _ := os.ReadFile(f)
		if len(b) > 8000 {
			continue
		}
		var root any
		json.Unmarshal(b, &root)
		var paths [][]any
		var walk func(x any, p []any)
		walk = func(x any, p []any) {
			paths = append(paths, append([]any{}, p...))
			switch y := x.(type) {
			case map[string]any:
				keys := make([]string, 0)
				for k := range y {
					keys = append(keys, k)
				}
				sort.Strings(keys)
				for _, k := range keys {
					walk(y[k], append(p, k))
				}
			case []any:
				for i, e := range y {
					walk(e, append(p, i))
				}
			}
		}
		walk(root, nil)
		for _, p := range paths {
			if len(p) == 0 {
				continue
			}
			for vi, val := range append(variants, "DELETE") {
				var copyRoot any
				json.Unmarshal(b, &copyRoot)
				cur := copyRoot
				for _, s := range p[:len(p)-1] {
					switch k := s.(type) {
					case string:
						cur = cur.(map[string]any)[k]
					case int:
						cur = cur.([]any)[k]
					}
				}
				last := p[len(p)-1]
				switch k := last.(type) {
				case string:
					if val == "DELETE" {
						delete(cur.(map[string]any), k)
					} else {
						cur.(map[string]any)[k] = val
					}
				case int:
					if val == "DELETE" {
						continue
					}
					cur.([]any)[k] = val
				}
				body, _ := json.Marshal(copyRoot)
				n++
				if d := differ(v, body); d != "" {
					key := fmt.Sprintf("%v=%d", p[len(p)-1], vi)
					seen[key]++
					if seen[key] == 1 && len(seen) < 20 {
						t.Errorf("%s %v <- %v: %s", filepath.Base(f), p, val, d)
					}
				}
			}
		}
	}
	t.Logf("%d mutants of %d files compared, %d kinds of difference", n, len(files)/step, len(seen))
}
