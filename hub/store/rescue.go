package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivertype"
)

// rescueBatch bounds one read of stuck jobs.
const rescueBatch = 500

// RescueStuck makes jobs of the given kinds that have been running for
// longer than after available again at once, or discards those that have
// used their last attempt, as River's own rescuer does. River's rescuer
// runs only on the elected leader and only every 30 seconds (a constant
// River does not let its users change), so a job held by a killed process
// could wait the rescue window plus up to 30 s plus a leader election; the
// hub calls this more often from every worker process (see
// docs/decisions/0011-rescue-window.md). It reports how many jobs it moved.
//
// Two sweeps racing over the same job (two processes, or this and River's
// rescuer) can, in a window of milliseconds, hand a job back that another
// process has just fetched again: the job then runs twice, which the vendor
// idempotency key makes harmless, as it does for every rescue.
func (b *backend[TTx]) RescueStuck(ctx context.Context, after time.Duration, kinds ...string) (int, error) {
	exec := b.driver.GetExecutor()
	horizon := time.Now().Add(-after)
	moved := 0
	var afterID int64
	for {
		jobs, err := exec.JobGetStuck(ctx, &riverdriver.JobGetStuckParams{AfterID: afterID, Max: rescueBatch, StuckHorizon: horizon})
		if err != nil {
			return moved, fmt.Errorf("store: read stuck jobs: %w", err)
		}
		now := time.Now().UTC()
		p := riverdriver.JobRescueManyParams{StuckHorizon: horizon}
		for _, j := range jobs {
			afterID = j.ID
			if !slices.Contains(kinds, j.Kind) || cancelRequested(j) {
				continue // another kind's timeout, or a cancel: River's rescuer decides
			}
			e, err := json.Marshal(rivertype.AttemptError{At: now, Attempt: max(j.Attempt, 0),
				Error: fmt.Sprintf("stuck job rescued by the hub: running for over %s, its process is gone", after)})
			if err != nil {
				return moved, fmt.Errorf("store: rescue error record: %w", err)
			}
			state, finalized, scheduled := rivertype.JobStateAvailable, (*time.Time)(nil), now
			if j.Attempt >= j.MaxAttempts {
				state, finalized, scheduled = rivertype.JobStateDiscarded, &now, j.ScheduledAt
			}
			p.ID = append(p.ID, j.ID)
			p.Error = append(p.Error, e)
			p.FinalizedAt = append(p.FinalizedAt, finalized)
			p.ScheduledAt = append(p.ScheduledAt, scheduled)
			p.State = append(p.State, string(state))
		}
		if len(p.ID) > 0 {
			if _, err := exec.JobRescueMany(ctx, &p); err != nil {
				return moved, fmt.Errorf("store: rescue %d stuck jobs: %w", len(p.ID), err)
			}
			moved += len(p.ID)
		}
		if len(jobs) < rescueBatch {
			return moved, nil
		}
	}
}

// cancelRequested reports whether someone asked River to cancel the job
// while it ran (River then finalises it as cancelled when rescued).
func cancelRequested(j *rivertype.JobRow) bool {
	var m struct {
		CancelAttemptedAt time.Time `json:"cancel_attempted_at"`
	}
	return json.Unmarshal(j.Metadata, &m) == nil && !m.CancelAttemptedAt.IsZero()
}
