package transferlog

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-health/switchboard/hub/store"
)

// stageChunk bounds the rows of one INSERT: 500 (8,500 parameters) where
// the store says its dialect (store.DialectOf), writing SQLite's bare ?
// placeholders; 32 with $N placeholders for any other Querier, because
// SQLite looks each $N up in a list of the names seen so far and parsing
// grows with the square of the parameters (500 rows made parsing 90% of a
// bulk stage).
const (
	stageChunk        = 500
	stageChunkUnknown = 32
)

// queueColumns are switchboard_log_queue's columns Stage fills, in order.
const queueColumns = `at, event, transfer_id, direction, source, destination, resource_type, interaction,
	subject_hash, outcome, http_status, attempt, latency_ms, error_class, actor, payload_digest, detail`

// Stage adds rows to the log's intake in one multi-row INSERT (per 500
// rows) through q: pass the caller's transaction (store.Tx is a Querier) so
// the rows commit or vanish with the change they record. It takes no lock;
// the chainer gives the rows their place on the chain later, in the order
// they were staged. A zero At means now.
func Stage(ctx context.Context, q store.Querier, rows ...Row) error {
	now := time.Now()
	dialect, size := store.DialectOf(q), stageChunk
	if dialect == "" {
		dialect, size = store.Postgres, stageChunkUnknown
	}
	for start := 0; start < len(rows); start += size {
		chunk := rows[start:min(start+size, len(rows))]
		var sql strings.Builder
		sql.WriteString(`INSERT INTO switchboard_log_queue (` + queueColumns + `) VALUES `)
		args := make([]any, 0, len(chunk)*17)
		for i, r := range chunk {
			if r.At.IsZero() {
				r.At = now
			}
			detail, err := detailJSON(r.Detail)
			if err != nil {
				return err
			}
			if i > 0 {
				sql.WriteString(", ")
			}
			placeholders(&sql, dialect, len(args), 17)
			args = append(args, r.At.UnixMicro(), r.Event, store.Null(r.TransferID), store.Null(r.Direction),
				store.Null(r.Source), store.Null(r.Destination), store.Null(r.ResourceType), store.Null(r.Interaction),
				store.Null(r.SubjectHash), store.Null(r.Outcome), store.Null(r.HTTPStatus), store.Null(r.Attempt),
				store.Null(r.LatencyMS), store.Null(r.ErrorClass), store.Null(r.Actor), store.Null(r.PayloadDigest),
				store.Null(detail))
		}
		if _, err := q.Exec(ctx, sql.String(), args...); err != nil {
			return fmt.Errorf("transfer log: stage %d rows: %w", len(chunk), err)
		}
	}
	return nil
}

// detailJSON encodes a row's Detail as stored ("" for none); encoding/json
// sorts map keys, so the same detail always hashes the same.
func detailJSON(d map[string]any) (string, error) {
	if len(d) == 0 {
		return "", nil
	}
	b, err := json.Marshal(d)
	if err != nil {
		return "", fmt.Errorf("transfer log: detail: %w", err)
	}
	return string(b), nil
}

// placeholders writes "($n+1, ..., $n+count)", or "(?, ..., ?)" for
// SQLite, whose parser numbers a bare ? without the quadratic name lookup
// $N costs it in statements with thousands of parameters.
func placeholders(b *strings.Builder, d store.Dialect, n, count int) {
	b.WriteByte('(')
	for i := 1; i <= count; i++ {
		if i > 1 {
			b.WriteString(", ")
		}
		if d == store.SQLite {
			b.WriteByte('?')
		} else {
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n + i))
		}
	}
	b.WriteByte(')')
}
