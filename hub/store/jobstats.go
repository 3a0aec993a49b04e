package store

import (
	"context"
	"fmt"
	"time"

	"github.com/riverqueue/river/rivertype"
)

// What River's client cannot answer, read from its job table directly: in
// this file alone, so that an upgrade of River that changes river_job has
// one place to look (docs/decisions/0013-delivery-owns-its-life.md).
// River lists jobs (JobListTx) but does not count them, and a count per
// queue is what health views and metrics need, however deep the queue.
// (Package delivery joins its rows to their jobs for the order per
// subject and the status API, which River cannot do either.)

// QueueCount is the number of jobs of one queue in one state.
type QueueCount struct {
	Queue string
	State rivertype.JobState
	Jobs  int
	// OldestAvailable is how long the oldest available job has been
	// waiting (zero for other states).
	OldestAvailable time.Duration
}

// QueueCounts counts the jobs of every queue in the given states.
func QueueCounts(ctx context.Context, q Querier, states ...rivertype.JobState) ([]QueueCount, error) {
	age := `EXTRACT(EPOCH FROM (now() - MIN(scheduled_at)))::float8`
	if DialectOf(q) == SQLite {
		age = `(julianday('now') - julianday(MIN(scheduled_at))) * 86400.0`
	}
	in, args := "", make([]any, len(states))
	for i, s := range states {
		if i > 0 {
			in += ", "
		}
		in += fmt.Sprintf("$%d", i+1)
		args[i] = string(s)
	}
	rows, err := q.Query(ctx, `SELECT queue, state, COUNT(*), CASE WHEN state = 'available' THEN `+age+` ELSE 0 END
		FROM river_job WHERE state IN (`+in+`) GROUP BY queue, state`, args...)
	if err != nil {
		return nil, fmt.Errorf("store: count jobs by queue: %w", err)
	}
	defer rows.Close()
	var out []QueueCount
	for rows.Next() {
		var c QueueCount
		var state string
		var secs float64
		if err := rows.Scan(&c.Queue, &state, &c.Jobs, &secs); err != nil {
			return nil, fmt.Errorf("store: count jobs by queue: %w", err)
		}
		c.State, c.OldestAvailable = rivertype.JobState(state), time.Duration(max(secs, 0)*float64(time.Second))
		out = append(out, c)
	}
	return out, rows.Err()
}

// KindCount counts the jobs of one kind, and of those the completed ones.
func KindCount(ctx context.Context, q Querier, kind string) (completed, all int, err error) {
	err = q.QueryRow(ctx, `SELECT COUNT(CASE WHEN state = 'completed' THEN 1 END), COUNT(*) FROM river_job WHERE kind = $1`, kind).Scan(&completed, &all)
	if err != nil {
		return 0, 0, fmt.Errorf("store: count %s jobs: %w", kind, err)
	}
	return completed, all, nil
}

// TruncateJobs empties River's job table (benchmarks between rounds), if it
// exists yet.
func TruncateJobs(ctx context.Context, q Querier) error {
	if DialectOf(q) == SQLite {
		_, err := q.Exec(ctx, `DELETE FROM river_job`)
		return err
	}
	_, err := q.Exec(ctx, `DO $$ BEGIN IF to_regclass('river_job') IS NOT NULL THEN TRUNCATE river_job; END IF; END $$`)
	return err
}
