package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
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
	sqlite := DialectOf(q) == SQLite
	// The oldest available job's time: PostgreSQL computes its age; SQLite
	// returns the stored text, parsed below, since SQLite stores the times
	// as whatever text wrote them (julianday gave NULL for some, and health
	// answered 500).
	oldest := `EXTRACT(EPOCH FROM (now() - MIN(scheduled_at)))::float8`
	if sqlite {
		oldest = `MIN(scheduled_at)`
	}
	in, args := "", make([]any, len(states))
	for i, s := range states {
		if i > 0 {
			in += ", "
		}
		in += fmt.Sprintf("$%d", i+1)
		args[i] = string(s)
	}
	rows, err := q.Query(ctx, `SELECT queue, state, COUNT(*), CASE WHEN state = 'available' THEN `+oldest+` ELSE NULL END
		FROM river_job WHERE state IN (`+in+`) GROUP BY queue, state`, args...)
	if err != nil {
		return nil, fmt.Errorf("store: count jobs by queue: %w", err)
	}
	defer rows.Close()
	now := time.Now()
	var out []QueueCount
	for rows.Next() {
		var c QueueCount
		var state string
		var secs sql.NullFloat64
		var at sql.NullString
		dest := any(&secs)
		if sqlite {
			dest = &at
		}
		if err := rows.Scan(&c.Queue, &state, &c.Jobs, dest); err != nil {
			return nil, fmt.Errorf("store: count jobs by queue: %w", err)
		}
		c.State = rivertype.JobState(state)
		switch {
		case secs.Valid:
			c.OldestAvailable = time.Duration(max(secs.Float64, 0) * float64(time.Second))
		case at.Valid:
			if t, ok := parseSQLiteTime(at.String); ok {
				c.OldestAvailable = max(now.Sub(t), 0)
			}
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// sqliteTimeLayouts are the ways a time reaches SQLite's river_job: SQLite's
// own datetime('now', 'subsec'), River's driver, and Go's time.Time.String
// (the database/sql driver's default for a time.Time argument).
var sqliteTimeLayouts = []string{
	"2006-01-02 15:04:05.999999999-07:00",
	"2006-01-02T15:04:05.999999999-07:00",
	"2006-01-02 15:04:05.999999999Z07:00",
	time.RFC3339Nano,
	"2006-01-02 15:04:05.999999999 -0700 MST",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02 15:04:05",
}

// parseSQLiteTime reads a time stored as text in SQLite (UTC when the text
// names no zone).
func parseSQLiteTime(s string) (time.Time, bool) {
	// time.Time.String may end with a monotonic reading ("m=+0.01").
	if i := strings.Index(s, " m="); i >= 0 {
		s = s[:i]
	}
	for _, layout := range sqliteTimeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
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
