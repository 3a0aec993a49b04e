package transfer

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/switchboard-health/switchboard/hub/delivery"
	"github.com/switchboard-health/switchboard/hub/store"
)

// Status is what GET /transfers/{id} answers. No PHI: ids, types, states,
// counts, statuses and times.
type Status struct {
	ID           string           `json:"id"`
	ClientID     string           `json:"-"` // who sent it (access control)
	Kind         string           `json:"kind"`
	ResourceType string           `json:"resource_type"`
	Interaction  string           `json:"interaction"`
	Entries      int              `json:"entries"`
	State        string           `json:"state"` // in-progress | delivered | failed | partially-failed
	CreatedAt    time.Time        `json:"created_at"`
	Deliveries   []DeliveryStatus `json:"deliveries"`
	Counts       map[string]int   `json:"counts"`
}

// DeliveryStatus is one (entry, destination).
type DeliveryStatus struct {
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

// ErrNotFound means no transfer has the id.
var ErrNotFound = errors.New("transfer: not found")

func micros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// Status reads a transfer and the live state of its deliveries. While a job
// exists its River state says whether it is waiting, running or scheduled
// for a retry; the worker's recorded outcome is authoritative once final.
func (s *Service) Status(ctx context.Context, id string) (*Status, error) {
	if !ValidID(id) {
		return nil, ErrNotFound
	}
	st := &Status{ID: id, Counts: map[string]int{}}
	var created int64
	err := s.Store.DB().QueryRow(ctx, `SELECT client_id, kind, resource_type, interaction, entry_count, created_at
		FROM switchboard_transfer WHERE id = $1`, id).Scan(&st.ClientID, &st.Kind, &st.ResourceType, &st.Interaction, &st.Entries, &created)
	if store.IsNoRows(err) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("transfer: read %s: %w", id, err)
	}
	st.CreatedAt = micros(created)
	rows, err := s.Store.DB().Query(ctx, `SELECT d.entry, d.destination, d.resource_type, d.interaction, d.state, d.attempts,
			d.last_status, d.error_class, d.error_code, d.created_at, d.updated_at, d.delivered_at, j.state, j.scheduled_at
		FROM switchboard_delivery d LEFT JOIN river_job j ON j.id = d.job_id
		WHERE d.transfer_id = $1 ORDER BY d.entry, d.destination`, id)
	if err != nil {
		return nil, fmt.Errorf("transfer: read deliveries of %s: %w", id, err)
	}
	defer rows.Close()
	for rows.Next() {
		var d DeliveryStatus
		var lastStatus sql.NullInt64
		var class, code, jobState sql.NullString
		var createdAt, updatedAt int64
		var deliveredAt sql.NullInt64
		var scheduled sql.NullTime
		if err := rows.Scan(&d.Entry, &d.Destination, &d.ResourceType, &d.Interaction, &d.State, &d.Attempts,
			&lastStatus, &class, &code, &createdAt, &updatedAt, &deliveredAt, &jobState, &scheduled); err != nil {
			return nil, fmt.Errorf("transfer: scan delivery of %s: %w", id, err)
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
		if d.State == delivery.StateRetrying && scheduled.Valid {
			t := scheduled.Time.UTC()
			d.NextAttemptAt = &t
		}
		st.Counts[d.State]++
		st.Deliveries = append(st.Deliveries, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("transfer: read deliveries of %s: %w", id, err)
	}
	st.State = overall(st.Counts, len(st.Deliveries))
	return st, nil
}

// liveState combines the recorded state with River's job state.
func liveState(recorded, job string) string {
	if delivery.Final(recorded) {
		return recorded
	}
	switch job {
	case "running":
		return "delivering"
	case "retryable":
		return delivery.StateRetrying
	case "scheduled":
		if recorded == delivery.StateRetrying {
			return delivery.StateRetrying
		}
		return delivery.StateQueued
	case "cancelled", "discarded":
		return delivery.StateFailed
	case "completed":
		return delivery.StateDelivered
	}
	return recorded
}

// overall: a skipped delivery (a gate said no) is done and not a failure.
func overall(c map[string]int, total int) string {
	done := c[delivery.StateDelivered] + c[delivery.StateSkipped]
	failed := c[delivery.StateFailed] + c[delivery.StateDiscarded]
	switch {
	case done == total:
		return "delivered"
	case failed == total:
		return "failed"
	case done+failed == total:
		return "partially-failed"
	default:
		return "in-progress"
	}
}
