package transfer

import (
	"context"
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

// DeliveryStatus is one (entry, destination) (package delivery reads it).
type DeliveryStatus = delivery.Status

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
	ds, err := s.Deliveries.Statuses(ctx, id)
	if err != nil {
		return nil, err
	}
	for _, d := range ds {
		st.Counts[d.State]++
	}
	st.Deliveries = ds
	st.State = overall(st.Counts, len(st.Deliveries))
	return st, nil
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
