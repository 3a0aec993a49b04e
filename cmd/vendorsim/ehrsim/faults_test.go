package ehrsim_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-health/switchboard/cmd/vendorsim/ehrsim"
)

// fail_next answers writes with the failure status and no effect, and does
// not burn the Idempotency-Key: the retry with the same key takes effect once.
func TestFailNextWithRetryAfter(t *testing.T) {
	s := newSandbox(t, ehrsim.Options{})
	s.faults(`{"fail_next": 2, "fail_status": 503, "retry_after_s": 7}`)
	body := patient("urn:mrn", "f", "Fail")
	for i, want := range []int{503, 503, 201, 201} {
		r := s.do(http.MethodPost, "/Patient", body, "Idempotency-Key", "retry-me")
		if r.status != want {
			t.Fatalf("attempt %d: status %d, want %d: %s", i+1, r.status, want, r.body)
		}
		if want == 503 {
			if r.header.Get("Retry-After") != "7" {
				t.Errorf("attempt %d: Retry-After %q", i+1, r.header.Get("Retry-After"))
			}
			if issueCode(t, r) != "transient" {
				t.Errorf("attempt %d: %s", i+1, r.body)
			}
		}
	}
	l := s.log("")
	if e := effects(l); e[ehrsim.EffectRejected] != 2 || e[ehrsim.EffectCreated] != 1 || e[ehrsim.EffectReplayed] != 1 {
		t.Errorf("effects %v", e)
	}
	if l.Effects != 1 || l.DuplicateEffects != 0 {
		t.Errorf("effects %d, duplicates %d", l.Effects, l.DuplicateEffects)
	}
}

func TestFaultsTable(t *testing.T) {
	tests := []struct {
		name     string
		faults   string
		method   string
		path     string
		body     string
		want     []int // statuses of consecutive identical requests
		wantCode string
	}{
		{"reject_next answers 400 to writes", `{"reject_next": 1}`, "POST", "/Patient", `{"resourceType":"Patient"}`, []int{400, 201}, "invalid"},
		{"fail_next with 429", `{"fail_next": 1, "fail_status": 429}`, "POST", "/Patient", `{"resourceType":"Patient"}`, []int{429, 201}, "transient"},
		{"fail_next spares reads", `{"fail_next": 5}`, "GET", "/Patient", "", []int{200, 200}, ""},
		{"fail_reads_next fails searches", `{"fail_reads_next": 1}`, "GET", "/Patient", "", []int{503, 200}, "transient"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSandbox(t, ehrsim.Options{})
			s.faults(tc.faults)
			for i, want := range tc.want {
				r := s.do(tc.method, tc.path, tc.body)
				if r.status != want {
					t.Fatalf("request %d: status %d, want %d: %s", i+1, r.status, want, r.body)
				}
				if i == 0 && tc.wantCode != "" && issueCode(t, r) != tc.wantCode {
					t.Errorf("issue code: %s", r.body)
				}
			}
		})
	}
}

func TestFaultSettings(t *testing.T) {
	s := newSandbox(t, ehrsim.Options{Latency: 5 * time.Millisecond})
	// Fields not sent keep their value.
	s.faults(`{"fail_next": 3}`)
	if f := s.sim.Stats().Faults; f.LatencyMS != 5 || f.FailNext != 3 {
		t.Errorf("after a patch: %+v", f)
	}
	for _, bad := range []string{`{"fail_next": -1}`, `{"fail_status": 200}`, `{"fail_nxt": 1}`, `not json`} {
		if r := s.do(http.MethodPost, "/_sandbox/faults", bad); r.status != 400 {
			t.Errorf("%s: status %d", bad, r.status)
		}
	}
	if r := s.do(http.MethodDelete, "/_sandbox/faults", ""); r.status != 200 {
		t.Fatalf("clear: %d", r.status)
	}
	if f := s.sim.Stats().Faults; f != (ehrsim.Faults{}) {
		t.Errorf("after clearing: %+v", f)
	}
}

// Latency delays every FHIR request, and concurrent requests sleep side by
// side rather than queueing behind a lock.
func TestLatencyIsAddedWithoutSerialising(t *testing.T) {
	s := newSandbox(t, ehrsim.Options{})
	s.faults(`{"latency_ms": 150}`)
	start := time.Now()
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() { s.do(http.MethodPost, "/Patient", `{"resourceType":"Patient"}`) })
	}
	wg.Wait()
	if d := time.Since(start); d < 150*time.Millisecond || d > 1200*time.Millisecond {
		t.Errorf("10 concurrent writes at 150ms latency took %s", d)
	}
	if r := s.do(http.MethodGet, "/_sandbox/stats", ""); r.status != 200 {
		t.Fatal(r.status)
	}
	s.faults(`{"latency_ms": 0}`)
	start = time.Now()
	s.do(http.MethodGet, "/metadata", "")
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("latency not cleared: %s", d)
	}
}

// A client that gives up during the latency leaves no effect.
func TestClientLeavingDuringLatencyHasNoEffect(t *testing.T) {
	s := newSandbox(t, ehrsim.Options{Latency: 300 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.fhir+"/Patient", nil)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatal("expected the client to time out")
	}
	deadline := time.Now().Add(2 * time.Second)
	for len(s.sim.Log().Requests) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	l := s.sim.Log()
	if len(l.Requests) != 1 || l.Requests[0].Status != 499 || l.Effects != 0 {
		t.Fatalf("log %+v", l)
	}
}
