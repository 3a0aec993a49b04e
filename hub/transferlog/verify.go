package transferlog

import (
	"context"
	"fmt"

	"github.com/switchboard-health/switchboard/hub/store"
)

// Break names the first row where the log does not hold.
type Break struct {
	Seq    int64
	Reason string
}

// Checkpoint is a row's seq and hash an auditor wrote down earlier (or
// keeps outside the hub): a log rewritten by someone holding the key still
// verifies as a chain, but not against a checkpoint taken before.
type Checkpoint struct {
	Seq  int64
	Hash string
}

// Report is what Verify found.
type Report struct {
	// Rows is the number of rows read, up to and including a break.
	Rows int64
	// Pending is the number of staged rows not chained yet.
	Pending int64
	// Head is the chain's head row as stored (zero when there is none).
	Head struct {
		Seq  int64
		Hash string
	}
	// Break is the first break, nil when the log holds.
	Break *Break
}

// Verify walks the log from the first row, in one pass and constant
// memory, and reports the first break: a row whose hash does not hold over
// its columns and its predecessor, a gap in the sequence, a head row whose
// MAC does not verify or that names a row missing or different (rows
// removed from the end), and, given cp, a row cp.Seq missing or with
// another hash.
//
// The head is read before the walk, so rows the chainer adds meanwhile lie
// past it; rows past the head are fine (each is checked by its hash), rows
// missing before it are not.
func (l *Log) Verify(ctx context.Context, cp *Checkpoint) (Report, error) {
	var rep Report
	if cp != nil && cp.Seq < 1 {
		return rep, fmt.Errorf("transfer log: verify: checkpoint seq %d is not a row", cp.Seq)
	}
	db := l.Store.DB()
	var mac string
	err := db.QueryRow(ctx, `SELECT seq, hash, mac FROM switchboard_log_head WHERE id = 1`).Scan(&rep.Head.Seq, &rep.Head.Hash, &mac)
	hasHead := err == nil
	if err != nil && !store.IsNoRows(err) {
		return rep, fmt.Errorf("transfer log: verify: read the head: %w", err)
	}
	// An altered head names nothing the walk could check rows against.
	var head *Checkpoint
	if hasHead && mac == l.headMAC(rep.Head.Seq, rep.Head.Hash) {
		head = &Checkpoint{Seq: rep.Head.Seq, Hash: rep.Head.Hash}
	}
	last, brk, err := l.walk(ctx, &rep, head, cp)
	if err != nil {
		return rep, err
	}
	if brk == nil {
		brk = checkHead(hasHead, head, last)
	}
	if brk == nil && cp != nil && cp.Seq > last {
		brk = &Break{Seq: cp.Seq, Reason: fmt.Sprintf("the checkpoint's row %d is not in the log (the log ends at row %d)", cp.Seq, last)}
	}
	rep.Break = brk
	if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM switchboard_log_queue`).Scan(&rep.Pending); err != nil {
		return rep, fmt.Errorf("transfer log: verify: count staged rows: %w", err)
	}
	return rep, nil
}

// walk checks every row's hash and the sequence, and the rows the head and
// the checkpoint name as it passes them. It returns the last row's seq.
func (l *Log) walk(ctx context.Context, rep *Report, head, cp *Checkpoint) (int64, *Break, error) {
	rs, err := l.Store.DB().Query(ctx, `SELECT `+logColumns+` FROM switchboard_log ORDER BY seq`)
	if err != nil {
		return 0, nil, fmt.Errorf("transfer log: verify: read: %w", err)
	}
	defer rs.Close()
	prev, want := genesis, int64(1)
	var s scanned
	for rs.Next() {
		s = scanned{}
		if err := rs.Scan(s.logDest()...); err != nil {
			return 0, nil, fmt.Errorf("transfer log: verify: scan: %w", err)
		}
		rep.Rows++
		seq := s.seq
		switch {
		case seq > want && seq == want+1:
			return 0, &Break{Seq: seq, Reason: fmt.Sprintf("sequence jumps from %d to %d: row %d is missing (removed, or rows were renumbered)", want-1, seq, want)}, nil
		case seq > want:
			return 0, &Break{Seq: seq, Reason: fmt.Sprintf("sequence jumps from %d to %d: rows %d to %d are missing (removed, or rows were renumbered)", want-1, seq, want, seq-1)}, nil
		case seq < want:
			return 0, &Break{Seq: seq, Reason: fmt.Sprintf("sequence jumps from %d back to %d (a row was inserted)", want-1, seq)}, nil
		case s.prevHash != prev:
			return 0, &Break{Seq: seq, Reason: "prev_hash does not match the row before (a row was removed, inserted or altered)"}, nil
		case l.rowHash(prev, seq, s.at, s.row(), s.detail.String) != s.hash:
			return 0, &Break{Seq: seq, Reason: "hash does not match the row's columns (the row was altered)"}, nil
		case head != nil && head.Seq == seq && head.Hash != s.hash:
			return 0, &Break{Seq: seq, Reason: fmt.Sprintf("row %d is not the row the chain head names (the row was replaced)", seq)}, nil
		case cp != nil && cp.Seq == seq && cp.Hash != s.hash:
			return 0, &Break{Seq: seq, Reason: fmt.Sprintf("row %d's hash is not the checkpoint's (the log was rewritten at or before it)", seq)}, nil
		}
		prev, want = s.hash, seq+1
	}
	if err := rs.Err(); err != nil {
		return 0, nil, fmt.Errorf("transfer log: verify: read: %w", err)
	}
	return want - 1, nil, nil
}

// checkHead checks the head row against a log whose rows all hold; head
// is nil when the head is missing or its MAC does not verify.
func checkHead(hasHead bool, head *Checkpoint, last int64) *Break {
	switch {
	case !hasHead && last == 0:
		return nil
	case !hasHead:
		return &Break{Seq: last, Reason: "the chain head is missing (rows after this one may have been removed)"}
	case head == nil:
		return &Break{Seq: max(last, 1), Reason: "the chain head's MAC does not verify (the head was altered)"}
	case head.Seq > last:
		return &Break{Seq: last + 1, Reason: fmt.Sprintf("rows after %d were removed (the head names row %d)", last, head.Seq)}
	}
	return nil
}
