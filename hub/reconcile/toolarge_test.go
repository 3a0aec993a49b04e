package reconcile_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-health/switchboard/hub/reconcile"
)

type alerts struct{ sources []string }

func (a *alerts) ResponseTooLarge(_ context.Context, source string) {
	a.sources = append(a.sources, source)
}

// TestPollSurvivesLargePages: a page over the answer limit is asked for
// again from the cursor at half the size, down to what fits (issue 14 §1:
// one 8 MB EHR page stopped polling for good, backing off for ever). Every
// change is routed once and the poll completes; no alert.
func TestPollSurvivesLargePages(t *testing.T) {
	for _, d := range dialects {
		t.Run(string(d), func(t *testing.T) {
			changes := series(20, t0.Add(-time.Hour))
			// Five patients fit; sixteen (the page size) and eight do not.
			p := &fakePoller{changes: changes, maxBytes: 5 * len(changes[19].Resource)}
			h := newHarness(t, d, reconcile.Source{Interval: time.Minute, PageSize: 16, Since: t0.Add(-2 * time.Hour)}, p)
			al := &alerts{}
			h.w.Alerts = al
			if err := h.run(t, false); err != nil {
				t.Fatal(err)
			}
			if n := h.acc.firsts(); n != 20 {
				t.Fatalf("%d changes routed, want 20", n)
			}
			if c := h.cursor(t, "Patient"); c.failures != 0 || c.lastError != "" || c.since != changes[19].Updated.UnixMicro() {
				t.Fatalf("cursor after the poll: %+v", c)
			}
			rows := h.polls(t)
			if len(rows) != 1 || rows[0].outcome != "completed" {
				t.Fatalf("poll rows: %+v", rows)
			}
			wantCounts(t, rows[0], map[string]int{"routed": 20, "page_halvings": 2, "page_size": 4})
			var sizes []int
			for _, q := range p.queries {
				sizes = append(sizes, q.Count)
			}
			if sizes[0] != 16 || sizes[1] != 8 || sizes[2] != 4 {
				t.Fatalf("page sizes asked: %v, want 16, 8, then 4", sizes)
			}
			if len(al.sources) != 0 {
				t.Fatalf("alerts %v for pages a smaller size fixed", al.sources)
			}
		})
	}
}

// TestPollOfOneRecordOverTheLimit: when a single record is over the limit
// no page size helps: the poll fails with response_too_large, the source
// backs off and an admin is alerted.
func TestPollOfOneRecordOverTheLimit(t *testing.T) {
	changes := series(3, t0.Add(-time.Hour))
	changes[1].Resource = []byte(`{"resourceType":"Patient","id":"p2","text":{"div":"` + strings.Repeat("x", 4000) + `"}}`)
	p := &fakePoller{changes: changes, maxBytes: 1000}
	h := newHarness(t, "sqlite", reconcile.Source{Interval: time.Minute, PageSize: 8, Since: t0.Add(-2 * time.Hour)}, p)
	al := &alerts{}
	h.w.Alerts = al
	if err := h.run(t, false); err != nil {
		t.Fatal(err)
	}
	c := h.cursor(t, "Patient")
	if c.failures != 1 || c.lastError != "response_too_large" {
		t.Fatalf("cursor: %+v, want one failure response_too_large", c)
	}
	// The record before the large one was taken: the cursor is past it.
	if n := h.acc.firsts(); n != 1 || c.since != changes[0].Updated.UnixMicro() {
		t.Fatalf("routed %d, cursor at %d; want the first change taken", n, c.since)
	}
	if len(al.sources) != 1 || al.sources[0] != "ehr" {
		t.Fatalf("alerts: %v, want one for ehr", al.sources)
	}
	rows := h.polls(t)
	if len(rows) != 1 || rows[0].outcome != "failed" || rows[0].detail["error_code"] != "response_too_large" {
		t.Fatalf("poll rows: %+v", rows)
	}
	if last := p.queries[len(p.queries)-1]; last.Count != 1 {
		t.Fatalf("last page size asked %d, want 1", last.Count)
	}
}
