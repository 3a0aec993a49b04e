package delivery

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Status is one delivery as the status API shows it. No PHI: ids, types,
// states, counts, statuses and times.
type Status struct {
	Entry          int        `json:"entry"`
	Destination    string     `json:"destination"`
	ResourceType   string     `json:"resource_type"`
	Interaction    string     `json:"interaction"`
	State          string     `json:"state"` // queued | delivering | delivered | retrying | failed | skipped | discarded
	Attempts       int        `json:"attempts"`
	LastHTTPStatus *int       `json:"last_http_status,omitempty"`
	ErrorClass     string     `json:"error_class,omitempty"`
	ErrorCode      string     `json:"error_code,omitempty"`
	NextAttemptAt  *time.Time `json:"next_attempt_at,omitempty"`
	CreatedAt      time.Time  `json:"created_at"`
	UpdatedAt      time.Time  `json:"updated_at"`
	DeliveredAt    *time.Time `json:"delivered_at,omitempty"`
}

func micros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// Statuses reads the live state of a transfer's deliveries, by entry and
// destination. While a job exists its River state says whether it is
// waiting, running or scheduled for a retry; the worker's recorded outcome
// is authoritative once final.
func (t *Table) Statuses(ctx context.Context, id string) ([]Status, error) {
	var out []Status
	rows, err := t.Store.DB().Query(ctx, `SELECT d.entry, d.destination, d.resource_type, d.interaction, d.state, d.attempts,
			d.last_status, d.error_class, d.error_code, d.created_at, d.updated_at, d.delivered_at, j.state, j.scheduled_at
		FROM switchboard_delivery d LEFT JOIN river_job j ON j.id = d.job_id
		WHERE d.transfer_id = $1 ORDER BY d.entry, d.destination`, id)
	if err != nil {
		return nil, fmt.Errorf("delivery: read deliveries of %s: %w", id, err)
	}
	defer rows.Close()
	for rows.Next() {
		var d Status
		var lastStatus sql.NullInt64
		var class, code, jobState sql.NullString
		var createdAt, updatedAt int64
		var deliveredAt sql.NullInt64
		var scheduled sql.NullTime
		if err := rows.Scan(&d.Entry, &d.Destination, &d.ResourceType, &d.Interaction, &d.State, &d.Attempts,
			&lastStatus, &class, &code, &createdAt, &updatedAt, &deliveredAt, &jobState, &scheduled); err != nil {
			return nil, fmt.Errorf("delivery: scan delivery of %s: %w", id, err)
		}
		if lastStatus.Valid {
			v := int(lastStatus.Int64)
			d.LastHTTPStatus = &v
		}
		d.ErrorClass, d.ErrorCode = class.String, code.String
		d.CreatedAt, d.UpdatedAt = micros(createdAt), micros(updatedAt)
		if deliveredAt.Valid {
			t := micros(deliveredAt.Int64)
			d.DeliveredAt = &t
		}
		d.State = liveState(d.State, jobState.String)
		if d.State == StateRetrying && scheduled.Valid {
			t := scheduled.Time.UTC()
			d.NextAttemptAt = &t
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("delivery: read deliveries of %s: %w", id, err)
	}
	return out, nil
}

// liveState combines the recorded state with River's job state.
func liveState(recorded, job string) string {
	if Final(recorded) {
		return recorded
	}
	switch job {
	case "running":
		return "delivering"
	case "retryable":
		return StateRetrying
	case "scheduled":
		if recorded == StateRetrying {
			return StateRetrying
		}
		return StateQueued
	case "cancelled", "discarded":
		return StateFailed
	case "completed":
		return StateDelivered
	}
	return recorded
}
