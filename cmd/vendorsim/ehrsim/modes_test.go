package ehrsim_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-health/switchboard/cmd/vendorsim/ehrsim"
)

// The standing failure modes the chaos suite drives: each answers every
// matching request the same way until cleared, with or without an effect.
func TestStandingModes(t *testing.T) {
	tests := []struct {
		name       string
		faults     string
		method     string
		path       string
		body       string
		want       int
		retryAfter string
		effect     ehrsim.Effect
	}{
		{"down fails writes", `{"mode": "down", "retry_after_s": 3}`, "POST", "/Patient", patient("urn:a", "1", "Down"), 503, "3", ehrsim.EffectRejected},
		{"down fails reads", `{"mode": "down"}`, "GET", "/Patient", "", 503, "", ehrsim.EffectRejected},
		{"429 fails writes with Retry-After", `{"mode": "429", "retry_after_s": 2}`, "POST", "/Patient", patient("urn:a", "2", "Busy"), 429, "2", ehrsim.EffectRejected},
		{"429 spares reads", `{"mode": "429", "retry_after_s": 2}`, "GET", "/Patient", "", 200, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSandbox(t, ehrsim.Options{})
			s.faults(tc.faults)
			for i := range 3 { // standing: not consumed by a request
				r := s.do(tc.method, tc.path, tc.body, "Idempotency-Key", "same-key")
				if r.status != tc.want {
					t.Fatalf("request %d: status %d, want %d: %s", i+1, r.status, tc.want, r.body)
				}
				if got := r.header.Get("Retry-After"); got != tc.retryAfter {
					t.Errorf("request %d: Retry-After %q, want %q", i+1, got, tc.retryAfter)
				}
			}
			l := s.log("")
			if l.Effects != 0 {
				t.Errorf("%d effects under %s", l.Effects, tc.faults)
			}
			if tc.effect != "" && effects(l)[tc.effect] != 3 {
				t.Errorf("effects %v", effects(l))
			}
			// Cleared, the same write with the same key takes effect once.
			s.faults(`{"mode": ""}`)
			if r := s.do(tc.method, tc.path, tc.body, "Idempotency-Key", "same-key"); r.status >= 300 {
				t.Errorf("after clearing: %d %s", r.status, r.body)
			}
		})
	}
}

// In mode reset a write takes effect but its answer is cut off mid-body:
// the client sees an error, and its retry with the same Idempotency-Key is
// a replay, never a second effect.
func TestResetModeCutsTheAnswerAfterTheEffect(t *testing.T) {
	s := newSandbox(t, ehrsim.Options{})
	s.faults(`{"mode": "reset"}`)
	req, _ := http.NewRequest(http.MethodPost, s.fhir+"/Patient", strings.NewReader(patient("urn:r", "1", "Reset")))
	req.Header.Set("Content-Type", "application/fhir+json")
	req.Header.Set("Idempotency-Key", "reset-1")
	res, err := http.DefaultClient.Do(req)
	if err == nil {
		_, err = io.ReadAll(res.Body)
		res.Body.Close()
		if err == nil {
			t.Fatalf("the answer arrived whole (status %d)", res.StatusCode)
		}
	}
	// The sandbox logs the request when its handler returns, which can be
	// after the client saw the connection reset: wait for the entry.
	effects := 0
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if effects = s.log("").Effects; effects != 0 {
			break
		}
	}
	if effects != 1 {
		t.Fatalf("effects %d after the cut answer, want 1", effects)
	}
	// Reads are answered whole in mode reset.
	if r := s.do(http.MethodGet, "/Patient", ""); r.status != 200 {
		t.Fatalf("search in mode reset: %d", r.status)
	}
	s.faults(`{"mode": ""}`)
	r := s.do(http.MethodPost, "/Patient", patient("urn:r", "1", "Reset"), "Idempotency-Key", "reset-1")
	if r.status != 201 || r.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("retry: %d replayed=%q", r.status, r.header.Get("Idempotent-Replayed"))
	}
	if l := s.log(""); l.Effects != 1 || l.DuplicateEffects != 0 {
		t.Errorf("effects %d, duplicates %d", l.Effects, l.DuplicateEffects)
	}
}

// for_ms bounds a POST's settings: when it runs out, the settings from
// before come back without another request to the controls.
func TestBoundedFaultsExpire(t *testing.T) {
	s := newSandbox(t, ehrsim.Options{})
	s.faults(`{"latency_ms": 5}`)
	s.faults(`{"mode": "down", "latency_ms": 0, "for_ms": 300}`)
	f := s.sim.Stats().Faults
	if f.Mode != "down" || f.ForMS != 300 || f.Until.IsZero() {
		t.Fatalf("during the window: %+v", f)
	}
	// A second bounded POST inside the window keeps the first's baseline.
	s.faults(`{"mode": "429", "for_ms": 300}`)
	if r := s.do(http.MethodPost, "/Patient", `{"resourceType":"Patient"}`); r.status != 429 {
		t.Fatalf("in the window: %d", r.status)
	}
	time.Sleep(400 * time.Millisecond)
	if r := s.do(http.MethodPost, "/Patient", `{"resourceType":"Patient"}`); r.status != 201 {
		t.Fatalf("after the window: %d %s", r.status, r.body)
	}
	if f := s.sim.Stats().Faults; f != (ehrsim.Faults{LatencyMS: 5}) {
		t.Errorf("after the window: %+v, want the settings from before it", f)
	}
	for _, bad := range []string{`{"mode": "sideways"}`, `{"for_ms": -1}`} {
		if r := s.do(http.MethodPost, "/_sandbox/faults", bad); r.status != 400 {
			t.Errorf("%s: status %d", bad, r.status)
		}
	}
}
