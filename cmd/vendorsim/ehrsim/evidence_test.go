package ehrsim_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-health/switchboard/cmd/vendorsim/ehrsim"
)

func TestLogShape(t *testing.T) {
	s := newSandbox(t, ehrsim.Options{})
	s.do(http.MethodPost, "/Patient", patient("urn:mrn", "1", "Shape"), "Idempotency-Key", "k")
	r := s.do(http.MethodGet, "/_sandbox/log", "")
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(r.body, &raw); err != nil {
		t.Fatal(err)
	}
	if got := sortedKeys(raw); strings.Join(got, ",") != "duplicate_effects,effects,requests" {
		t.Errorf("top-level keys %v", got)
	}
	var rows []map[string]json.RawMessage
	if err := json.Unmarshal(raw["requests"], &rows); err != nil || len(rows) != 1 {
		t.Fatalf("requests: %v %s", err, raw["requests"])
	}
	if got := strings.Join(sortedKeys(rows[0]), ","); got != "effect,id,idempotency_key,method,path,status,time" {
		t.Errorf("row keys %s", got)
	}
	withKeys := s.do(http.MethodGet, "/_sandbox/log?by_key=1", "")
	if !strings.Contains(string(withKeys.body), `"by_key":{"k":1}`) {
		t.Errorf("by_key: %s", withKeys.body)
	}
	// An empty log is an empty list, not null.
	s.do(http.MethodDelete, "/_sandbox/log", "")
	if r := s.do(http.MethodGet, "/_sandbox/log", ""); !strings.Contains(string(r.body), `"requests":[]`) {
		t.Errorf("empty log: %s", r.body)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// The log and the process log are evidence a test or a developer reads; the
// vendor's data is the only place PHI may be.
func TestLogHoldsNoPHI(t *testing.T) {
	var logs syncBuffer
	s := newSandbox(t, ehrsim.Options{Logger: newTextLogger(&logs)})
	canary := "Zqxcanary4711"
	s.do(http.MethodPost, "/Patient", patient("urn:mrn", canary+"-mrn", canary), "If-None-Exist", "identifier=urn:mrn|"+canary+"-mrn")
	s.do(http.MethodGet, "/Patient?identifier=urn:mrn|"+canary+"-mrn", "")
	s.do(http.MethodPost, "/Patient", `{"resourceType":"Patient","name":[{"family":"`+canary+`"`) // a 400
	for name, text := range map[string]string{
		"request log": string(s.do(http.MethodGet, "/_sandbox/log?by_key=1", "").body),
		"stats":       string(s.do(http.MethodGet, "/_sandbox/stats", "").body),
		"slog output": logs.String(),
	} {
		if strings.Contains(text, canary) {
			t.Errorf("%s holds PHI: %s", name, text)
		}
	}
	if !strings.Contains(logs.String(), "path=/fhir/R4/Patient") {
		t.Errorf("slog output lacks the request lines: %s", logs.String())
	}
	// Positive control: the vendor has the data.
	if b := s.do(http.MethodGet, "/Patient?identifier=urn:mrn|"+canary+"-mrn", ""); !strings.Contains(string(b.body), canary) {
		t.Fatal("the canary never reached the store")
	}
}

func TestDeleteLogResetsEvidenceNotData(t *testing.T) {
	s := newSandbox(t, ehrsim.Options{})
	m := s.do(http.MethodPost, "/Patient", patient("urn:mrn", "1", "Kept"), "Idempotency-Key", "k").json(t)
	if r := s.do(http.MethodDelete, "/_sandbox/log", ""); r.status != http.StatusNoContent {
		t.Fatalf("DELETE: %d", r.status)
	}
	if l := s.log(""); len(l.Requests) != 0 || l.Effects != 0 {
		t.Fatalf("after reset: %+v", l)
	}
	if r := s.do(http.MethodGet, "/Patient/"+m["id"].(string), ""); r.status != 200 {
		t.Fatalf("data lost with the log: %d", r.status)
	}
	// Keys survive too: a retry after the reset still has no effect.
	s.do(http.MethodPost, "/Patient", patient("urn:mrn", "1", "Kept"), "Idempotency-Key", "k")
	if l := s.log(""); l.Effects != 0 || l.Requests[len(l.Requests)-1].Effect != ehrsim.EffectReplayed {
		t.Fatalf("after reset, replay: %+v", l)
	}
	st := s.sim.Stats()
	if st.Requests != 3 || st.LogEntries != 2 || st.Resources != 1 || st.IdempotencyKeys != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestLogCapKeepsCountersExact(t *testing.T) {
	s := newSandbox(t, ehrsim.Options{MaxLogEntries: 10})
	for i := range 25 {
		s.do(http.MethodPost, "/Patient", `{"resourceType":"Patient"}`, "Idempotency-Key", fmt.Sprint(i))
	}
	l := s.log("")
	if len(l.Requests) > 10 || l.Dropped+len(l.Requests) != 25 || l.Effects != 25 {
		t.Fatalf("%d rows, %d dropped, %d effects", len(l.Requests), l.Dropped, l.Effects)
	}
}

func TestSinkCountsRequestsAndDistinctKeys(t *testing.T) {
	s := newSandbox(t, ehrsim.Options{Latency: time.Hour}) // the sink ignores FHIR latency
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 50 {
				r := s.do(http.MethodPost, "/sink/Patient", `{"resourceType":"Patient"}`, "Idempotency-Key", fmt.Sprintf("k-%d", (w*50+i)%100))
				if r.status != 200 || !strings.HasPrefix(string(r.body), `{"id":"`) {
					t.Errorf("sink: %d %s", r.status, r.body)
					return
				}
			}
		})
	}
	wg.Wait()
	r := s.do(http.MethodGet, "/_sandbox/sink", "")
	if string(r.body) != `{"requests":400,"distinct_keys":100}` {
		t.Fatalf("sink stats %s", r.body)
	}
	if l := s.log(""); len(l.Requests) != 0 {
		t.Errorf("sink requests reached the FHIR log: %d", len(l.Requests))
	}
	s.do(http.MethodDelete, "/_sandbox/sink", "")
	if r := s.do(http.MethodGet, "/_sandbox/sink", ""); string(r.body) != `{"requests":0,"distinct_keys":0}` {
		t.Fatalf("after reset %s", r.body)
	}
}
