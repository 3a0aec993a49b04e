package transfer

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/switchboard-health/switchboard/hub/seal"
	"github.com/switchboard-health/switchboard/hub/store"
)

// VendorRefs implements delivery.Refs: the sealed vendor ids a destination
// gave the entries of a transfer, by entry.
func (s *Service) VendorRefs(ctx context.Context, transferID, destination string) (map[int]seal.Envelope, error) {
	rows, err := s.Store.DB().Query(ctx, `SELECT entry, vendor_ref FROM switchboard_delivery
		WHERE transfer_id = $1 AND destination = $2 AND vendor_ref IS NOT NULL`, transferID, destination)
	if err != nil {
		return nil, fmt.Errorf("transfer: read vendor ids of %s at %s: %w", transferID, destination, err)
	}
	defer rows.Close()
	out := map[int]seal.Envelope{}
	for rows.Next() {
		var entry int
		var raw string
		if err := rows.Scan(&entry, &raw); err != nil {
			return nil, fmt.Errorf("transfer: read vendor ids: %w", err)
		}
		var env seal.Envelope
		if err := json.Unmarshal([]byte(raw), &env); err != nil {
			return nil, fmt.Errorf("transfer: vendor id of %s entry %d is not an envelope", transferID, entry)
		}
		out[entry] = env
	}
	return out, rows.Err()
}

// DeliveryState reports one delivery's state and its sealed vendor id
// (nil when none was kept); found is false when the transfer has no such
// delivery. The identity write-back waits on it.
func (s *Service) DeliveryState(ctx context.Context, transferID string, entry int, destination string) (state string, ref *seal.Envelope, found bool, err error) {
	var raw sql.NullString
	err = s.Store.DB().QueryRow(ctx, `SELECT d.state, d.vendor_ref FROM switchboard_delivery d
		WHERE d.transfer_id = $1 AND d.entry = $2 AND d.destination = $3`, transferID, entry, destination).Scan(&state, &raw)
	if store.IsNoRows(err) {
		return "", nil, false, nil
	}
	if err != nil {
		return "", nil, false, fmt.Errorf("transfer: read delivery %s entry %d at %s: %w", transferID, entry, destination, err)
	}
	if raw.Valid {
		var env seal.Envelope
		if err := json.Unmarshal([]byte(raw.String), &env); err != nil {
			return "", nil, false, fmt.Errorf("transfer: vendor id of %s entry %d is not an envelope", transferID, entry)
		}
		ref = &env
	}
	return state, ref, true, nil
}
