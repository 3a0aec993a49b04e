package candid

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestClaimEventGolden maps the claim status events in
// testdata/mappings/candid/webhook/ and compares with their goldens; no
// demographics or diagnoses may come through.
func TestClaimEventGolden(t *testing.T) {
	inputs, _ := filepath.Glob(filepath.Join("..", "..", "testdata", "mappings", "candid", "webhook", "*.json"))
	n := 0
	for _, in := range inputs {
		if filepath.Ext(in[:len(in)-5]) == ".golden" {
			continue
		}
		n++
		t.Run(filepath.Base(in), func(t *testing.T) {
			src, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			ev, err := ClaimEventFromWebhook(src)
			if err != nil {
				t.Fatal(err)
			}
			if ev.EncounterID == "" || ev.At.IsZero() {
				t.Fatalf("event without encounter id or time: %+v", ev)
			}
			for _, leak := range []string{"Zzcanary", "1990-01-01", "F53.0"} {
				if bytes.Contains(ev.ClaimResponse, []byte(leak)) {
					t.Fatalf("ClaimResponse carries %q", leak)
				}
			}
			got := pretty(t, ev.ClaimResponse)
			golden := in[:len(in)-5] + ".golden.json"
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
	if n == 0 {
		t.Fatal("no claim status events")
	}
}

func TestClaimEventRefusals(t *testing.T) {
	for _, c := range []struct {
		name, body string
		ignored    bool
	}{
		{"another event type", `{"type":"encounter.created","data":{}}`, true},
		{"not JSON", `nope`, false},
		{"no type", `{"data":{}}`, false},
		{"no encounter id", `{"type":"encounter.claim_status_updated","data":{"claims":[]}}`, false},
		{"no patient", `{"type":"encounter.claim_status_updated","data":{"encounter_id":"e","created_at":"2026-11-20T09:00:00Z"}}`, false},
		{"no created_at", `{"type":"encounter.claim_status_updated","data":{"encounter_id":"e","patient":{"external_id":"p"}}}`, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := ClaimEventFromWebhook([]byte(c.body))
			if err == nil || errors.Is(err, ErrIgnored) != c.ignored {
				t.Fatalf("err %v, want ignored=%v", err, c.ignored)
			}
		})
	}
}
