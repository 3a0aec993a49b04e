package transferlog

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/switchboard-health/switchboard/hub/store"
)

const (
	// chainBatch is the most staged rows one Chain moves: enough to keep up
	// with thousands of events a second, small enough that the lock and the
	// transaction stay short.
	chainBatch = 5000
	// chainChunk bounds one INSERT into switchboard_log (20 columns a row).
	chainChunk = 500
	// chainLockKey is the PostgreSQL advisory lock that makes one process at
	// a time the chainer.
	chainLockKey = 7220001
)

// ErrHeadMismatch means the chain's head row and the log's last row
// disagree in a way only tampering explains (rows removed from the end, the
// head altered). The chainer then refuses to go on, so that chaining new
// rows cannot paper over what was removed: staged rows wait, durable, in
// the queue, and Verify names the break until someone investigates.
var ErrHeadMismatch = errors.New("the chain head does not match the log")

// Chain moves up to 5000 staged rows onto the chain in one transaction:
// each gets the next seq, the previous row's hash and its own hash, the
// queue rows are deleted and the head row is moved to the new last row.
// Only one process chains at a time; when another holds the lock (on
// PostgreSQL) Chain returns 0 and nil at once. It returns the rows chained.
func (l *Log) Chain(ctx context.Context) (int, error) {
	n, _, err := l.chain(ctx)
	return n, err
}

// chain is Chain that also says whether it got the lock.
func (l *Log) chain(ctx context.Context) (n int, locked bool, err error) {
	err = l.Store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		ok, err := l.lock(ctx, tx)
		if err != nil || !ok {
			return err
		}
		locked = true
		seq, prev, err := l.tip(ctx, tx)
		if err != nil {
			return err
		}
		batch, ids, err := readQueue(ctx, tx)
		if err != nil || len(batch) == 0 {
			return err
		}
		for i := range batch {
			seq++
			b := &batch[i]
			b.seq, b.prevHash = seq, prev
			b.hash = l.rowHash(prev, seq, b.at, b.row(), b.detail.String)
			prev = b.hash
		}
		if err := insertChained(ctx, tx, l.Store.Dialect(), batch); err != nil {
			return err
		}
		if err := deleteQueued(ctx, tx, l.Store.Dialect(), ids); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO switchboard_log_head (id, seq, hash, at, mac) VALUES (1, $1, $2, $3, $4)
			ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, at = excluded.at, mac = excluded.mac`,
			seq, prev, time.Now().UnixMicro(), l.headMAC(seq, prev))
		if err != nil {
			return fmt.Errorf("transfer log: chain: move the head: %w", err)
		}
		n = len(batch)
		return nil
	})
	if err != nil {
		return 0, locked, err
	}
	return n, locked, nil
}

// lock takes the chain lock for the transaction: a PostgreSQL advisory
// lock (false when another process holds it), or SQLite's write lock, taken
// up front by a write that changes nothing so that the transaction cannot
// fail later upgrading from a reader to the writer.
func (l *Log) lock(ctx context.Context, tx store.Tx) (bool, error) {
	if l.Store.Dialect() == store.Postgres {
		var ok bool
		if err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock($1)`, int64(chainLockKey)).Scan(&ok); err != nil {
			return false, fmt.Errorf("transfer log: chain: lock: %w", err)
		}
		return ok, nil
	}
	if _, err := tx.Exec(ctx, `DELETE FROM switchboard_log_queue WHERE id < 0`); err != nil {
		return false, fmt.Errorf("transfer log: chain: lock: %w", err)
	}
	return true, nil
}

// tip returns the seq and hash new rows chain onto: the log's last row,
// checked against the MAC'd head.
func (l *Log) tip(ctx context.Context, tx store.Tx) (int64, string, error) {
	var (
		last, headSeq           int64
		lastHash, headHash, mac string
		hasLast, hasHead        = true, true
	)
	err := tx.QueryRow(ctx, `SELECT seq, hash FROM switchboard_log ORDER BY seq DESC LIMIT 1`).Scan(&last, &lastHash)
	if store.IsNoRows(err) {
		hasLast, err = false, nil
	}
	if err != nil {
		return 0, "", fmt.Errorf("transfer log: chain: read the last row: %w", err)
	}
	err = tx.QueryRow(ctx, `SELECT seq, hash, mac FROM switchboard_log_head WHERE id = 1`).Scan(&headSeq, &headHash, &mac)
	if store.IsNoRows(err) {
		hasHead, err = false, nil
	}
	if err != nil {
		return 0, "", fmt.Errorf("transfer log: chain: read the head: %w", err)
	}
	switch {
	case !hasHead && !hasLast:
		return 0, genesis, nil
	case !hasHead:
		// Rows without a head: the head was deleted, perhaps with rows
		// from the end. Adopting the last row would make that invisible.
		return 0, "", fmt.Errorf("transfer log: chain: %w: the head is missing and the log has %d rows", ErrHeadMismatch, last)
	case mac != l.headMAC(headSeq, headHash):
		return 0, "", fmt.Errorf("transfer log: chain: %w: the head's MAC does not verify", ErrHeadMismatch)
	case !hasLast || last != headSeq:
		// Fewer rows: removed from the end; more: appended without the
		// chainer (without the key, or around it).
		return 0, "", fmt.Errorf("transfer log: chain: %w: the head names row %d, the last row is %d", ErrHeadMismatch, headSeq, last)
	case lastHash != headHash:
		return 0, "", fmt.Errorf("transfer log: chain: %w: row %d's hash is not the head's", ErrHeadMismatch, last)
	}
	return last, lastHash, nil
}

// queued is a staged row and its queue id.
type queued struct {
	id int64
	scanned
}

// readQueue reads up to chainBatch staged rows in the order they were
// staged.
func readQueue(ctx context.Context, tx store.Tx) ([]queued, []int64, error) {
	rs, err := tx.Query(ctx, `SELECT id, `+queueColumns+` FROM switchboard_log_queue ORDER BY id LIMIT $1`, chainBatch)
	if err != nil {
		return nil, nil, fmt.Errorf("transfer log: chain: read the queue: %w", err)
	}
	defer rs.Close()
	var (
		batch []queued
		ids   []int64
	)
	for rs.Next() {
		var q queued
		s := &q.scanned
		if err := rs.Scan(&q.id, &s.at, &s.event, &s.tid, &s.dir, &s.src, &s.dst, &s.typ, &s.in, &s.subj, &s.out,
			&s.status, &s.attempt, &s.latency, &s.cls, &s.actor, &s.dig, &s.detail); err != nil {
			return nil, nil, fmt.Errorf("transfer log: chain: scan the queue: %w", err)
		}
		batch = append(batch, q)
		ids = append(ids, q.id)
	}
	if err := rs.Err(); err != nil {
		return nil, nil, fmt.Errorf("transfer log: chain: read the queue: %w", err)
	}
	return batch, ids, nil
}

// insertChained writes chained rows into switchboard_log.
func insertChained(ctx context.Context, tx store.Tx, d store.Dialect, batch []queued) error {
	for start := 0; start < len(batch); start += chainChunk {
		chunk := batch[start:min(start+chainChunk, len(batch))]
		var sql strings.Builder
		sql.WriteString(`INSERT INTO switchboard_log (` + logColumns + `) VALUES `)
		args := make([]any, 0, len(chunk)*20)
		for i, b := range chunk {
			if i > 0 {
				sql.WriteString(", ")
			}
			placeholders(&sql, d, len(args), 20)
			args = append(args, b.seq, b.at, b.event, b.tid, b.dir, b.src, b.dst, b.typ, b.in, b.subj, b.out,
				b.status, b.attempt, b.latency, b.cls, b.actor, b.dig, b.detail, b.prevHash, b.hash)
		}
		if _, err := tx.Exec(ctx, sql.String(), args...); err != nil {
			return fmt.Errorf("transfer log: chain: insert %d rows: %w", len(chunk), err)
		}
	}
	return nil
}

// deleteQueued deletes the chained rows by id. Not "id <= the last id
// read": on PostgreSQL a transaction that took a lower id can commit after
// the read, and its row would be deleted without being chained.
func deleteQueued(ctx context.Context, tx store.Tx, d store.Dialect, ids []int64) error {
	for start := 0; start < len(ids); start += chainChunk {
		chunk := ids[start:min(start+chainChunk, len(ids))]
		var sql strings.Builder
		sql.WriteString(`DELETE FROM switchboard_log_queue WHERE id IN `)
		placeholders(&sql, d, 0, len(chunk))
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		n, err := tx.Exec(ctx, sql.String(), args...)
		if err != nil {
			return fmt.Errorf("transfer log: chain: delete %d staged rows: %w", len(chunk), err)
		}
		if n != int64(len(chunk)) {
			// Someone else removed staged rows under the lock: rolling back
			// is the only way not to chain a row twice.
			return fmt.Errorf("transfer log: chain: deleted %d of %d staged rows", n, len(chunk))
		}
	}
	return nil
}

// RunChainer chains staged rows every interval until ctx ends, at once
// again after a full batch (a backlog), and one last time on the way out
// (with a short context of its own) so that a clean shutdown leaves nothing
// staged. Run it in every process that stages rows; the lock makes one of
// them the chainer at a time.
func (l *Log) RunChainer(ctx context.Context, every time.Duration) {
	if every <= 0 {
		every = time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	failures := 0
	for {
		n, err := l.Chain(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			// A refused chain fails every tick; say so once a minute or so.
			if failures%60 == 0 {
				l.logger().ErrorContext(ctx, "transfer log: chain failed", "error", err, "failures", failures+1)
			}
			failures++
		case err == nil:
			failures = 0
		}
		if err == nil && n == chainBatch {
			continue
		}
		select {
		case <-ctx.Done():
			last, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			for {
				n, err := l.Chain(last)
				if err != nil {
					l.logger().ErrorContext(last, "transfer log: last chain on shutdown failed", "error", err)
				}
				if err != nil || n < chainBatch {
					return
				}
			}
		case <-t.C:
		}
	}
}

// Flush chains until nothing is staged, waiting while another process
// holds the lock; ctx bounds it. Tests and `switchboard audit` use it to
// see every staged row on the chain.
func (l *Log) Flush(ctx context.Context) error {
	for {
		n, locked, err := l.chain(ctx)
		if err != nil {
			return err
		}
		if locked && n == 0 {
			return nil
		}
		if !locked {
			select {
			case <-ctx.Done():
				return fmt.Errorf("transfer log: flush: %w", ctx.Err())
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
}
