package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-health/switchboard/hub/config"
	"github.com/switchboard-health/switchboard/hub/testenv"
)

// patientBatch is a batch Bundle of n small Patients.
func patientBatch(n int) string {
	var b strings.Builder
	b.WriteString(`{"resourceType":"Bundle","type":"batch","entry":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"fullUrl":"urn:uuid:00000000-0000-4000-8000-%012d","resource":{"resourceType":"Patient","active":true},"request":{"method":"POST","url":"Patient"}}`, i)
	}
	b.WriteString(`]}`)
	return b.String()
}

// TestBundleAtTheEntryLimit posts a batch of exactly the default entry
// limit, under the body limit, and one entry more (issue 14 §1). At the
// limit it is accepted on both databases: its 10,000 deliveries (two
// destinations each) are inserted in chunks, where one INSERT overran
// SQLite's 32,766 and pgx's 65,535 parameters and was answered 503 for
// ever. One entry more is refused once with a 413 OperationOutcome, and
// the CapabilityStatement states the limit.
func TestBundleAtTheEntryLimit(t *testing.T) {
	const limit = config.DefaultMaxBundleEntries
	for _, dialect := range dialects {
		t.Run(dialect, func(t *testing.T) {
			// An API process only: the test is about the accept, not
			// 10,000 deliveries to the sandboxes.
			h := startWithEnv(t, dialect, defaultRoutes, map[string]string{"SWITCHBOARD_ROLE": config.RoleAPI})
			body := patientBatch(limit)
			if len(body) >= 1<<20 {
				t.Fatalf("the batch is %d bytes, not under the 1 MiB body limit", len(body))
			}
			start := time.Now()
			r := h.post("/fhir/R4", body)
			t.Logf("%s: %d entries (%d bytes) answered %d in %s", dialect, limit, len(body), r.status, time.Since(start).Round(time.Millisecond))
			if r.status != http.StatusAccepted {
				t.Fatalf("%d entries (%d bytes): status %d, want 202: %s", limit, len(body), r.status, r.body)
			}
			// The figures of make chaos's "oversized-inputs" (RELIABILITY.md).
			testenv.Figure(t, "oversized-inputs", dialect+": a batch at the entry limit", float64(limit), "entries")
			testenv.Figure(t, "oversized-inputs", dialect+": its size", math.Round(float64(len(body))/1024), "KiB")
			testenv.Figure(t, "oversized-inputs", dialect+": time to 202", float64(time.Since(start).Milliseconds())/1000, "s")
			var n int
			if err := h.hub.Store.DB().QueryRow(context.Background(), `SELECT COUNT(*) FROM switchboard_delivery`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != 2*limit {
				t.Fatalf("deliveries stored = %d, want %d", n, 2*limit)
			}

			r = h.post("/fhir/R4", patientBatch(limit+1))
			if r.status != http.StatusRequestEntityTooLarge {
				t.Fatalf("%d entries: status %d, want 413: %s", limit+1, r.status, r.body)
			}
			var oo struct {
				ResourceType string
				Issue        []struct{ Code, Diagnostics string }
			}
			if err := json.Unmarshal(r.body, &oo); err != nil || oo.ResourceType != "OperationOutcome" || len(oo.Issue) != 1 ||
				oo.Issue[0].Code != "too-costly" || !strings.Contains(oo.Issue[0].Diagnostics, fmt.Sprintf("at most %d", limit)) {
				t.Fatalf("413 body: %s", r.body)
			}
			if r.header.Get("Retry-After") != "" {
				t.Fatalf("a Bundle over the limit is refused for good, yet the answer has Retry-After %q", r.header.Get("Retry-After"))
			}

			md := h.do(http.MethodGet, "/fhir/R4/metadata", "", "")
			if !strings.Contains(string(md.body), fmt.Sprintf("At most %d entries per Bundle", limit)) {
				t.Fatalf("the CapabilityStatement does not state the entry limit: %s", md.body)
			}
		})
	}
}
