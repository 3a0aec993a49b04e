package reconcile

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/switchboard-health/switchboard/hub/store"
)

// cursor is one source's progress through one resource type.
type cursor struct {
	since     time.Time
	polledAt  time.Time
	failures  int
	nextAt    time.Time
	lastError string
}

func (w *Worker) cursor(ctx context.Context, source, typ string) (cursor, bool, error) {
	var since int64
	var polled, next sql.NullInt64
	var failures int
	var lastErr sql.NullString
	err := w.Store.DB().QueryRow(ctx, `SELECT since, polled_at, failures, next_at, last_error FROM switchboard_cursor
		WHERE source = $1 AND resource_type = $2`, source, typ).Scan(&since, &polled, &failures, &next, &lastErr)
	if store.IsNoRows(err) {
		return cursor{}, false, nil
	}
	if err != nil {
		return cursor{}, false, fmt.Errorf("reconcile: read cursor: %w", err)
	}
	c := cursor{since: time.UnixMicro(since), failures: failures, lastError: lastErr.String}
	if polled.Valid {
		c.polledAt = time.UnixMicro(polled.Int64)
	}
	if next.Valid {
		c.nextAt = time.UnixMicro(next.Int64)
	}
	return c, true, nil
}

func (w *Worker) saveCursor(ctx context.Context, source, typ string, c cursor) error {
	_, err := w.Store.DB().Exec(ctx, `INSERT INTO switchboard_cursor (source, resource_type, since, polled_at, failures, next_at, last_error)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (source, resource_type) DO UPDATE SET since = excluded.since, polled_at = excluded.polled_at,
			failures = excluded.failures, next_at = excluded.next_at, last_error = excluded.last_error`,
		source, typ, c.since.UnixMicro(), micros(c.polledAt), c.failures, micros(c.nextAt), store.Null(c.lastError))
	if err != nil {
		return fmt.Errorf("reconcile: save cursor: %w", err)
	}
	return nil
}

func micros(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}
