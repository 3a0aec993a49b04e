package reconcile_test

import (
	"errors"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/switchboard-health/switchboard/hub/reconcile"
)

// A poll with many pages goes in runs bounded by the worker's budget: each
// run stops at a page boundary, records its own counts and cursor, and
// hands over with a snooze (not an attempt); the runs together route every
// change once. A single run cut by the job timeout instead lost its counts
// and re-read its changes as unchanged.
func TestPollGoesInRunsWithinItsBudget(t *testing.T) {
	for _, d := range dialects {
		t.Run(string(d), func(t *testing.T) {
			changes := series(20, t0.Add(-time.Hour))
			p := &fakePoller{changes: changes}
			h := newHarness(t, d, reconcile.Source{Interval: time.Minute, PageSize: 5, Since: t0.Add(-2 * time.Hour)}, p)
			h.w.Budget = time.Nanosecond // one page a run
			runs := 0
			for ; runs < 20; runs++ {
				err := h.run(t, false)
				if err == nil {
					break
				}
				var snooze *river.JobSnoozeError
				if !errors.As(err, &snooze) || snooze.Duration != 0 {
					t.Fatalf("run %d: %v, want a snooze of 0 (more pages)", runs+1, err)
				}
			}
			if runs < 3 {
				t.Fatalf("%d runs before the poll completed, want one a page (4 pages)", runs+1)
			}
			if n := h.acc.firsts(); n != 20 {
				t.Fatalf("%d changes routed, want 20", n)
			}
			routed := 0
			for _, r := range h.polls(t) {
				if r.outcome != "completed" {
					t.Fatalf("poll row %+v", r)
				}
				if v, ok := r.detail["routed"].(float64); ok {
					routed += int(v)
				}
			}
			if routed != 20 {
				t.Fatalf("the runs' rows count %d routed, want 20", routed)
			}
		})
	}
}
