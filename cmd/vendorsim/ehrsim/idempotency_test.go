package ehrsim_test

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-health/switchboard/cmd/vendorsim/ehrsim"
)

func TestConditionalCreate(t *testing.T) {
	s := newSandbox(t, ehrsim.Options{})
	first := s.do(http.MethodPost, "/Patient", patient("urn:mrn", "100", "A")).json(t)
	s.do(http.MethodPost, "/Patient", patient("urn:mrn", "200", "B"))
	s.do(http.MethodPost, "/Patient", patient("urn:mrn", "200", "C")) // a duplicate chart

	tests := []struct {
		name       string
		condition  string
		wantStatus int
		wantEffect ehrsim.Effect
		wantID     string // "" means any
		wantNew    int    // resources added
	}{
		{"hit returns the existing resource", "identifier=urn:mrn|100", 200, ehrsim.EffectMatched, first["id"].(string), 0},
		{"miss creates", "identifier=urn:mrn|300", 201, ehrsim.EffectCreated, "", 1},
		{"several matches refuse", "identifier=urn:mrn|200", 412, ehrsim.EffectRejected, "", 0},
		{"a URL-escaped condition", "identifier=urn%3Amrn%7C100", 200, ehrsim.EffectMatched, first["id"].(string), 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := s.sim.Stats().Resources
			r := s.do(http.MethodPost, "/Patient", patient("urn:mrn", "999", "Z"), "If-None-Exist", tc.condition)
			if r.status != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", r.status, tc.wantStatus, r.body)
			}
			if tc.wantID != "" && r.json(t)["id"] != tc.wantID {
				t.Errorf("id %v, want %s", r.json(t)["id"], tc.wantID)
			}
			l := s.log("")
			if got := l.Requests[len(l.Requests)-1].Effect; got != tc.wantEffect {
				t.Errorf("effect %q, want %q", got, tc.wantEffect)
			}
			if got := s.sim.Stats().Resources - before; got != tc.wantNew {
				t.Errorf("%d resources added, want %d", got, tc.wantNew)
			}
		})
	}
}

// Twenty deliveries racing with one identifier and no idempotency key: the
// conditional create is atomic, so exactly one record exists afterwards.
func TestConcurrentConditionalCreatesMakeOneRecord(t *testing.T) {
	s := newSandbox(t, ehrsim.Options{})
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			s.do(http.MethodPost, "/Patient", patient("urn:mrn", "race", "R"), "If-None-Exist", "identifier=urn:mrn|race")
		})
	}
	wg.Wait()
	if st := s.sim.Stats(); st.Resources != 1 || st.DuplicateIdentifiers != 0 {
		t.Fatalf("want one record: %+v", st)
	}
	if e := effects(s.log("")); e[ehrsim.EffectCreated] != 1 || e[ehrsim.EffectMatched] != 19 {
		t.Fatalf("effects %v", e)
	}
}

func TestIdempotencyKeyReplaysWithOneEffect(t *testing.T) {
	s := newSandbox(t, ehrsim.Options{})
	body := patient("urn:mrn", "1", "Once")
	first := s.do(http.MethodPost, "/Patient", body, "Idempotency-Key", "k-1")
	again := s.do(http.MethodPost, "/Patient", body, "Idempotency-Key", "k-1")
	if first.status != 201 || again.status != 201 {
		t.Fatalf("statuses %d, %d", first.status, again.status)
	}
	if string(first.body) != string(again.body) || first.header.Get("Location") != again.header.Get("Location") {
		t.Errorf("the replay differs:\n%s\n%s", first.body, again.body)
	}
	if first.header.Get("Idempotent-Replayed") != "" || again.header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("Idempotent-Replayed %q then %q", first.header.Get("Idempotent-Replayed"), again.header.Get("Idempotent-Replayed"))
	}
	// The same key on an update replays too, and a different key is a new effect.
	id := first.json(t)["id"].(string)
	put := `{"resourceType":"Patient","id":"` + id + `","active":true}`
	for range 3 {
		s.do(http.MethodPut, "/Patient/"+id, put, "Idempotency-Key", "k-2")
	}
	l := s.log("?by_key=1")
	e := effects(l)
	if e[ehrsim.EffectCreated] != 1 || e[ehrsim.EffectUpdated] != 1 || e[ehrsim.EffectReplayed] != 3 {
		t.Errorf("effects %v", e)
	}
	if l.Effects != 2 || l.DuplicateEffects != 0 || l.ByKey["k-1"] != 1 || l.ByKey["k-2"] != 1 {
		t.Errorf("log: effects %d, duplicates %d, by key %v", l.Effects, l.DuplicateEffects, l.ByKey)
	}
	if vid, _ := meta(t, s.do(http.MethodGet, "/Patient/"+id, "").json(t)); vid != "2" {
		t.Errorf("versionId %s after one effective update, want 2", vid)
	}
}

func TestIdempotencyKeyReusedForAnotherRequestIs422(t *testing.T) {
	s := newSandbox(t, ehrsim.Options{})
	s.do(http.MethodPost, "/Patient", patient("urn:mrn", "1", "A"), "Idempotency-Key", "shared")
	tests := []struct {
		name, method, path, body string
	}{
		{"another body", "POST", "/Patient", patient("urn:mrn", "2", "B")},
		{"another type", "POST", "/Observation", `{"resourceType":"Observation"}`},
		{"another method", "PUT", "/Patient/x", `{"resourceType":"Patient","id":"x"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := s.do(tc.method, tc.path, tc.body, "Idempotency-Key", "shared")
			if r.status != http.StatusUnprocessableEntity || issueCode(t, r) != "conflict" {
				t.Fatalf("%d %s", r.status, r.body)
			}
		})
	}
	if st := s.sim.Stats(); st.Resources != 1 {
		t.Fatalf("a reused key wrote data: %+v", st)
	}
}

// Twenty concurrent requests with one key, slowed so they overlap: exactly
// one takes effect, the others wait for it and replay its answer.
func TestConcurrentRequestsWithOneKeyHaveOneEffect(t *testing.T) {
	s := newSandbox(t, ehrsim.Options{Latency: 20 * time.Millisecond})
	body := patient("urn:mrn", "c", "Concurrent")
	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses, ids := map[int]int{}, map[string]bool{}
	for range 20 {
		wg.Go(func() {
			r := s.do(http.MethodPost, "/Patient", body, "Idempotency-Key", "one-key")
			mu.Lock()
			defer mu.Unlock()
			statuses[r.status]++
			if r.status == 201 {
				ids[r.json(t)["id"].(string)] = true
			}
		})
	}
	wg.Wait()
	if statuses[201] != 20 || len(ids) != 1 {
		t.Errorf("statuses %v, ids %v: want 20 answers naming one resource", statuses, ids)
	}
	l := s.log("")
	if e := effects(l); e[ehrsim.EffectCreated] != 1 || e[ehrsim.EffectReplayed] != 19 {
		t.Errorf("effects %v", e)
	}
	if l.Effects != 1 || l.DuplicateEffects != 0 || s.sim.Stats().Resources != 1 {
		t.Errorf("effects %d, duplicates %d, resources %d", l.Effects, l.DuplicateEffects, s.sim.Stats().Resources)
	}
}

// An EHR that ignores keys is what duplicate_effects exists to expose.
func TestDuplicateEffectsCountsKeysThatWroteTwice(t *testing.T) {
	s := newSandbox(t, ehrsim.Options{IgnoreIdempotencyKeys: true})
	for i := range 3 {
		key := fmt.Sprintf("k-%d", i)
		for range i + 1 { // k-0 once, k-1 twice, k-2 three times
			s.do(http.MethodPost, "/Patient", patient("urn:mrn", key, "D"), "Idempotency-Key", key)
		}
	}
	l := s.log("?by_key=1")
	if l.Effects != 6 || l.DuplicateEffects != 2 {
		t.Errorf("effects %d, duplicate_effects %d; want 6 and 2", l.Effects, l.DuplicateEffects)
	}
	if l.ByKey["k-0"] != 1 || l.ByKey["k-1"] != 2 || l.ByKey["k-2"] != 3 {
		t.Errorf("by_key %v", l.ByKey)
	}
	if st := s.sim.Stats(); st.DuplicateIdentifiers != 2 {
		t.Errorf("duplicate_identifiers %d, want 2 (k-1 and k-2 each have several charts)", st.DuplicateIdentifiers)
	}
}
