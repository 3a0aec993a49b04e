package validation

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchboard-health/switchboard/hub/outcome"
)

// FuzzResource: the validator never panics, every error is a 400 or 422
// OperationOutcome, and no error ever echoes a string value from the input.
func FuzzResource(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("..", "..", "testdata", "fhir", "valid", "*.json"))
	for _, s := range seeds {
		if b, err := os.ReadFile(s); err == nil {
			f.Add(b)
		}
	}
	for _, s := range []string{`{"resourceType":"Patient","name":[{"family":"Zzsecret"}],"birthDate":"Zzsecret"}`,
		`{"resourceType":"Patient","gender":"Zzsecret"}`, `{"resourceType":"Zzsecret"}`, `[`, `{"resourceType":"Bundle","type":"batch"}`} {
		f.Add([]byte(s))
	}
	v, err := New()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		_, err := v.Resource(body, "")
		if err == nil {
			return
		}
		var oe *outcome.Error
		if !errors.As(err, &oe) || (oe.Status != 400 && oe.Status != 422) {
			t.Fatalf("want a 400/422 outcome, got %v", err)
		}
		// Diagnostics are where a value could leak; expressions carry element
		// names (JSON keys), which are not values.
		var msg strings.Builder
		for _, is := range oe.Issues {
			msg.WriteString(is.Diagnostics + " ")
		}
		for _, s := range stringsIn(body) {
			if len(s) > 3 && strings.Contains(msg.String(), s) && !strings.Contains(allowedWords, s) && !IsResourceType(s) {
				t.Fatalf("error echoes input value %q: %s", s, msg.String())
			}
		}
	})
}

// allowedWords are our own diagnostics' words, which an input may contain too.
const allowedWords = "resourceType OperationOutcome unknown element invalid JSON missing required structure value " +
	"not-supported required error reference Bundle batch transaction entry request resource " +
	"FHIR R4 string strings empty line column wrong type expected boolean array object decimal integer date dateTime instant"

func stringsIn(body []byte) []string {
	var v any
	if json.Unmarshal(body, &v) != nil {
		return nil
	}
	var out []string
	var walk func(any)
	walk = func(x any) {
		switch t := x.(type) {
		case string:
			out = append(out, t)
		case []any:
			for _, e := range t {
				walk(e)
			}
		case map[string]any:
			for _, e := range t {
				walk(e)
			}
		}
	}
	walk(v)
	return out
}
