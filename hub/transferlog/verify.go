package transferlog

import (
	"context"
	"database/sql"
	"fmt"
)

// Break names the first row where the chain does not hold.
type Break struct {
	Seq    int64
	Reason string
}

// Verify walks the log from the first row and returns the first break, nil
// when every row's hash holds over its columns and its predecessor and the
// sequence has no gap. It reads in one pass, in constant memory.
func (l *Log) Verify(ctx context.Context) (rows int64, brk *Break, err error) {
	rs, err := l.Store.DB().Query(ctx, `SELECT seq, at, event, transfer_id, direction, source, destination, resource_type,
		interaction, subject_hash, outcome, http_status, attempt, latency_ms, error_class, actor, detail, prev_hash, hash
		FROM switchboard_log ORDER BY seq`)
	if err != nil {
		return 0, nil, fmt.Errorf("transfer log: read: %w", err)
	}
	defer rs.Close()
	prev, want := genesis, int64(1)
	for rs.Next() {
		var (
			seq, at                                            int64
			event, prevHash, hash                              string
			tid, dir, src, dst, typ, in, subj, out, cls, actor sql.NullString
			detail                                             sql.NullString
			status, attempt, latency                           sql.NullInt64
		)
		if err := rs.Scan(&seq, &at, &event, &tid, &dir, &src, &dst, &typ, &in, &subj, &out, &status, &attempt, &latency,
			&cls, &actor, &detail, &prevHash, &hash); err != nil {
			return rows, nil, fmt.Errorf("transfer log: scan: %w", err)
		}
		rows++
		switch {
		case seq != want:
			return rows, &Break{Seq: seq, Reason: fmt.Sprintf("sequence jumps from %d to %d (a row was removed or inserted)", want-1, seq)}, nil
		case prevHash != prev:
			return rows, &Break{Seq: seq, Reason: "prev_hash does not match the row before (a row was removed, inserted or altered)"}, nil
		}
		r := Row{Event: event, TransferID: tid.String, Direction: dir.String, Source: src.String, Destination: dst.String,
			ResourceType: typ.String, Interaction: in.String, SubjectHash: subj.String, Outcome: out.String,
			HTTPStatus: int(status.Int64), Attempt: int(attempt.Int64), LatencyMS: latency.Int64, ErrorClass: cls.String, Actor: actor.String}
		sum := l.MAC.Sum(append([][]byte{[]byte("transfer-log"), []byte(prev)}, fields(seq, at, r, detail.String)...)...)
		if sum != hash {
			return rows, &Break{Seq: seq, Reason: "hash does not match the row's columns (the row was altered)"}, nil
		}
		prev, want = hash, seq+1
	}
	return rows, nil, rs.Err()
}
