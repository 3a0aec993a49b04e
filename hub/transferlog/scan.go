package transferlog

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"time"
)

// logColumns are switchboard_log's columns in the order scanned reads them.
const logColumns = `seq, at, event, transfer_id, direction, source, destination, resource_type, interaction,
	subject_hash, outcome, http_status, attempt, latency_ms, error_class, actor, payload_digest, detail, prev_hash, hash`

// scanned is one switchboard_log (or, without the chain columns,
// switchboard_log_queue) row as stored: NULLs as empty values, Detail as
// its stored text, which is what the hash covers.
type scanned struct {
	seq, at                                                         int64
	event, prevHash, hash                                           string
	tid, dir, src, dst, typ, in, subj, out, cls, actor, dig, detail sql.NullString
	status, attempt, latency                                        sql.NullInt64
}

// logDest is the Scan destination for logColumns.
func (s *scanned) logDest() []any {
	return []any{&s.seq, &s.at, &s.event, &s.tid, &s.dir, &s.src, &s.dst, &s.typ, &s.in, &s.subj, &s.out,
		&s.status, &s.attempt, &s.latency, &s.cls, &s.actor, &s.dig, &s.detail, &s.prevHash, &s.hash}
}

// row is the scanned row without its Detail decoded (hashing needs only
// the stored text).
func (s *scanned) row() Row {
	return Row{At: time.UnixMicro(s.at).UTC(), Event: s.event, TransferID: s.tid.String, Direction: s.dir.String,
		Source: s.src.String, Destination: s.dst.String, ResourceType: s.typ.String, Interaction: s.in.String,
		SubjectHash: s.subj.String, Outcome: s.out.String, HTTPStatus: int(s.status.Int64), Attempt: int(s.attempt.Int64),
		LatencyMS: s.latency.Int64, ErrorClass: s.cls.String, Actor: s.actor.String, PayloadDigest: s.dig.String,
		Seq: s.seq, PrevHash: s.prevHash, Hash: s.hash}
}

// fullRow is row with Detail decoded, for readers.
func (s *scanned) fullRow() (Row, error) {
	r := s.row()
	if s.detail.String != "" {
		if err := json.Unmarshal([]byte(s.detail.String), &r.Detail); err != nil {
			return Row{}, fmt.Errorf("transfer log: row %d: detail is not a JSON object: %w", s.seq, err)
		}
	}
	return r, nil
}
