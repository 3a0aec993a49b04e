package server_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// pollRoutes polls the EHR for Patients and routes what changed there to a
// second FHIR server (the marketing sandbox standing in for any vendor).
// Both sandboxes take far more than the fhir connector's conservative
// default rate: 500 changes are routed within the test's minute.
const pollRoutes = `destinations:
  ehr:
    type: fhir
    poll: {interval: 1s, page_size: 50}
    rate_limit: {per_second: 1000, burst: 100}
    config: {base_url: %[1]q, poll_types: [Patient]}
  mirror:
    type: fhir
    rate_limit: {per_second: 1000, burst: 100}
    config: {base_url: %[3]q}
routes:
  - {resource: Patient, to: [ehr, mirror]}
`

// TestPollerAfterDowntime: 500 changes made at the EHR while the hub is
// down are all routed after it restarts, paged from the cursor, none missed
// and none doubled; the next polls route nothing more; the canary names
// polled through the hub are nowhere in its database or logs.
// The poll goes in runs of a few seconds (reconcile.DefaultBudget), each
// recording its counts: one run cut by the job timeout lost them.
func TestPollerAfterDowntime(t *testing.T) {
	for _, dialect := range dialects {
		t.Run(dialect, func(t *testing.T) {
			h := startWith(t, dialect, pollRoutes)
			// The first poll sets the cursor: connecting the hub does not
			// replay the EHR's history.
			waitCount(t, func() int { return h.pollRows(t) }, 1, 10*time.Second)
			before := h.pollRows(t)
			h.stop()

			const n = 500
			canary := fmt.Sprintf("Zqxpoll%08d", rand.IntN(1e8))
			var wg sync.WaitGroup
			sem := make(chan struct{}, 8)
			for i := range n {
				wg.Add(1)
				sem <- struct{}{}
				go func() {
					defer wg.Done()
					defer func() { <-sem }()
					body := fmt.Sprintf(`{"resourceType":"Patient","name":[{"family":"%s","given":["P%03d"]}],"birthDate":"1990-01-01"}`, canary, i)
					resp, err := http.Post(h.ehr.URL+"/fhir/R4/Patient", "application/fhir+json", strings.NewReader(body))
					if err != nil {
						t.Error(err)
						return
					}
					resp.Body.Close()
					if resp.StatusCode != http.StatusCreated {
						t.Errorf("create at the EHR: %d", resp.StatusCode)
					}
				}()
			}
			wg.Wait()
			if t.Failed() {
				return
			}

			h.restart()
			got := waitCount(t, func() int { return len(sandboxWrites(t, h.marketing.URL)) }, n, 60*time.Second)
			writes := sandboxWrites(t, h.marketing.URL)
			if got != n {
				t.Fatalf("mirror received %d records, want %d", got, n)
			}
			for path, k := range writes {
				if k != 1 {
					t.Fatalf("mirror wrote %s %d times, want once", path, k)
				}
			}
			// Three more poll cycles: nothing new is routed.
			waitCount(t, func() int { return h.pollRows(t) - before }, 4, 20*time.Second)
			if again := sandboxWrites(t, h.marketing.URL); len(again) != n {
				t.Fatalf("after more polls the mirror has %d records, want %d", len(again), n)
			}
			sum := h.pollCounts(t)
			t.Logf("polls after restart: %+v", sum)
			if sum["routed"] != n || sum["pages"] < n/50 {
				t.Fatalf("transfer log poll counts %v: want %d routed over at least %d pages", sum, n, n/50)
			}
			h.stop()
			h.assertNoCanary(dialect, [][]byte{[]byte(canary)})
		})
	}
}

// pollRows counts the transfer log's completed poll rows.
func (h *harness) pollRows(t *testing.T) int {
	t.Helper()
	var n int
	h.flushLog()
	if err := h.hub.Store.DB().QueryRow(t.Context(), `SELECT count(*) FROM switchboard_log WHERE event = 'poll' AND outcome = 'completed'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// pollCounts sums the counts of every poll row in the transfer log.
func (h *harness) pollCounts(t *testing.T) map[string]int {
	t.Helper()
	h.flushLog()
	rows, err := h.hub.Store.DB().Query(t.Context(), `SELECT detail FROM switchboard_log WHERE event = 'poll'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	sum := map[string]int{}
	for rows.Next() {
		var d string
		if err := rows.Scan(&d); err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		_ = json.Unmarshal([]byte(d), &m)
		for k, v := range m {
			if f, ok := v.(float64); ok {
				sum[k] += int(f)
			}
		}
	}
	return sum
}

// sandboxWrites counts, per resource path, the writes with an effect
// (created, updated) a FHIR sandbox received.
func sandboxWrites(t *testing.T, base string) map[string]int {
	t.Helper()
	resp, err := http.Get(base + "/_sandbox/log")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var l sandboxLog
	if err := json.NewDecoder(resp.Body).Decode(&l); err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, r := range l.Requests {
		if r.Effect == "created" || r.Effect == "updated" {
			out[r.Path]++
		}
	}
	return out
}
