// Package transferlog appends to the transfer log (DESIGN.md decision 8):
// one PHI-free row per event, hash-chained with the hub's HMAC key so that a
// row altered, inserted or removed in the database breaks the chain.
//
// Rows hold ids, destination names, resource types, codes and counts; a
// subject only as a keyed HMAC. Callers must never put anything from a
// payload into a row: Detail is for counts and PHI-free codes.
package transferlog

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/switchboard-health/switchboard/hub/seal"
	"github.com/switchboard-health/switchboard/hub/store"
)

// Events recorded so far (issue 4 adds delivery attempts, replays, reads).
const (
	EventWebhookRejected = "webhook_rejected"
	EventPoll            = "poll"
	EventChangeDropped   = "change_dropped"
	EventDrift           = "drift_repair"
)

// Directions of a row.
const (
	Inbound  = "inbound"
	Outbound = "outbound"
)

// Row is one event. Zero fields are stored as NULL.
type Row struct {
	At           time.Time
	Event        string
	TransferID   string
	Direction    string
	Source       string
	Destination  string
	ResourceType string
	Interaction  string
	SubjectHash  string
	Outcome      string
	HTTPStatus   int
	Attempt      int
	LatencyMS    int64
	ErrorClass   string
	Actor        string
	// Detail is a JSON object of PHI-free counts and codes.
	Detail map[string]any
}

// Log appends rows.
type Log struct {
	Store store.Store
	MAC   seal.MAC
}

// genesis is the prev_hash of the first row.
const genesis = "genesis"

// Append adds row at the end of the chain, in its own transaction; appends
// are serialised (an advisory lock on PostgreSQL, SQLite's single writer)
// because each row's hash covers the one before.
func (l *Log) Append(ctx context.Context, row Row) error {
	if row.At.IsZero() {
		row.At = time.Now()
	}
	detail := ""
	if len(row.Detail) > 0 {
		b, err := json.Marshal(row.Detail)
		if err != nil {
			return fmt.Errorf("transfer log: detail: %w", err)
		}
		detail = string(b)
	}
	return l.Store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		if l.Store.Dialect() == store.Postgres {
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(7220001)`); err != nil {
				return fmt.Errorf("transfer log: lock: %w", err)
			}
		}
		var seq int64
		prev := genesis
		err := tx.QueryRow(ctx, `SELECT seq, hash FROM switchboard_log ORDER BY seq DESC LIMIT 1`).Scan(&seq, &prev)
		if err != nil && !store.IsNoRows(err) {
			return fmt.Errorf("transfer log: head: %w", err)
		}
		seq++
		at := row.At.UnixMicro()
		hash := l.MAC.Sum(append([][]byte{[]byte("transfer-log"), []byte(prev)}, fields(seq, at, row, detail)...)...)
		_, err = tx.Exec(ctx, `INSERT INTO switchboard_log (seq, at, event, transfer_id, direction, source, destination,
			resource_type, interaction, subject_hash, outcome, http_status, attempt, latency_ms, error_class, actor, detail, prev_hash, hash)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)`,
			seq, at, row.Event, store.Null(row.TransferID), store.Null(row.Direction), store.Null(row.Source), store.Null(row.Destination),
			store.Null(row.ResourceType), store.Null(row.Interaction), store.Null(row.SubjectHash), store.Null(row.Outcome), store.Null(row.HTTPStatus),
			store.Null(row.Attempt), store.Null(row.LatencyMS), store.Null(row.ErrorClass), store.Null(row.Actor), store.Null(detail), prev, hash)
		if err != nil {
			return fmt.Errorf("transfer log: append: %w", err)
		}
		return nil
	})
}

// fields lists a row's columns in a fixed order for its hash; NULL and ""
// hash alike, as they are stored alike.
func fields(seq, at int64, r Row, detail string) [][]byte {
	s := func(v string) []byte { return []byte(v) }
	i := func(v int64) []byte { return []byte(strconv.FormatInt(v, 10)) }
	return [][]byte{i(seq), i(at), s(r.Event), s(r.TransferID), s(r.Direction), s(r.Source), s(r.Destination),
		s(r.ResourceType), s(r.Interaction), s(r.SubjectHash), s(r.Outcome), i(int64(r.HTTPStatus)), i(int64(r.Attempt)),
		i(r.LatencyMS), s(r.ErrorClass), s(r.Actor), s(detail)}
}
