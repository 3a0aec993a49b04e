package delivery

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/switchboard-health/switchboard/hub/store"
	"github.com/switchboard-health/switchboard/hub/transferlog"
)

// Successful outcomes are written in batches: one UPDATE per flush instead
// of one synchronous commit per delivery, which halved end-to-end throughput
// on PostgreSQL (see BENCHMARKS.md). Losing a batch in a crash loses nothing
// that matters: River has already recorded the job as completed, Status
// reads that while the job row exists, and Sweep repairs the row for good.
const (
	batchMax   = 256
	batchEvery = 20 * time.Millisecond
	// batchTimeout bounds one flush: a database cut off by a network
	// partition must not stall the flusher (and the deliveries queued
	// behind it) until TCP gives up; Sweep repairs a failed batch.
	batchTimeout = 30 * time.Second
)

// Batcher buffers delivered outcomes for the Table.
type Batcher struct {
	tab  *Table
	in   chan Outcome
	done chan struct{}
	log  *slog.Logger
}

// StartBatcher starts the flusher; Close flushes what is buffered and stops it.
func (t *Table) StartBatcher(log *slog.Logger) *Batcher {
	b := &Batcher{tab: t, in: make(chan Outcome, 4*batchMax), done: make(chan struct{}), log: log}
	go b.run()
	t.batcher = b
	return b
}

// Close flushes and stops the batcher.
func (b *Batcher) Close() {
	close(b.in)
	<-b.done
}

func (b *Batcher) run() {
	defer close(b.done)
	buf := make([]Outcome, 0, batchMax)
	tick := time.NewTicker(batchEvery)
	defer tick.Stop()
	flush := func() {
		if len(buf) == 0 {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
		if err := b.tab.recordDelivered(ctx, buf); err != nil {
			b.log.Error("record delivered outcomes (Sweep will repair them)", "count", len(buf), "error", err)
		}
		cancel()
		buf = buf[:0]
	}
	for {
		select {
		case o, ok := <-b.in:
			if !ok {
				flush()
				return
			}
			buf = append(buf, o)
			if len(buf) >= batchMax {
				flush()
			}
		case <-tick.C:
			flush()
		}
	}
}

func (t *Table) recordDelivered(ctx context.Context, os []Outcome) error {
	var q strings.Builder
	q.WriteString(`WITH v(transfer_id, entry, destination, status, at) AS (VALUES `)
	args := make([]any, 0, len(os)*5)
	type key struct {
		transfer, dest string
		entry          int
	}
	byKey := make(map[key]Outcome, len(os))
	for i, o := range os {
		if i > 0 {
			q.WriteString(", ")
		}
		n := len(args)
		fmt.Fprintf(&q, "(CAST($%d AS TEXT), CAST($%d AS INTEGER), CAST($%d AS TEXT), CAST($%d AS INTEGER), CAST($%d AS BIGINT))", n+1, n+2, n+3, n+4, n+5)
		args = append(args, o.TransferID, o.Entry, o.Destination, o.HTTPStatus, o.At.UnixMicro())
		byKey[key{o.TransferID, o.Destination, o.Entry}] = o
	}
	q.WriteString(`) UPDATE switchboard_delivery SET state = 'delivered', attempts = switchboard_delivery.attempts + 1,
		last_status = v.status, error_class = NULL, error_code = NULL, updated_at = v.at, delivered_at = v.at
		FROM v WHERE switchboard_delivery.transfer_id = v.transfer_id AND switchboard_delivery.entry = v.entry
		AND switchboard_delivery.destination = v.destination
		RETURNING switchboard_delivery.transfer_id, switchboard_delivery.entry, switchboard_delivery.destination, switchboard_delivery.waiter,
		switchboard_delivery.resource_type, switchboard_delivery.interaction, switchboard_delivery.audit_subject,
		switchboard_delivery.key_generation, switchboard_delivery.attempts`)
	var wake []key
	// The outcomes and their transfer-log rows commit together.
	err := t.Store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		wake = wake[:0]
		rows, err := tx.Query(ctx, q.String(), args...)
		if err != nil {
			return err
		}
		logRows := make([]transferlog.Row, 0, len(os))
		for rows.Next() {
			var k key
			var waiter, tries int
			var f facts
			var subj sql.NullString
			if err := rows.Scan(&k.transfer, &k.entry, &k.dest, &waiter, &f.resourceType, &f.interaction, &subj, &f.keyGeneration, &tries); err != nil {
				_ = rows.Close()
				return err
			}
			f.auditSubject = subj.String
			o := byKey[k]
			if o.Attempt == 0 {
				o.Attempt = tries
			}
			logRows = append(logRows, attemptRow(o, f))
			if waiter == 1 {
				wake = append(wake, k)
			}
		}
		if err := rows.Close(); err != nil {
			return err
		}
		return transferlog.Stage(ctx, tx, logRows...)
	})
	if err != nil {
		return err
	}
	// Deliveries waiting behind these (same destination and patient) go now.
	for _, k := range wake {
		if err := t.Wake(ctx, k.transfer, k.entry, k.dest); err != nil {
			return err
		}
	}
	return nil
}

// Sweep marks as delivered the deliveries whose River job completed but
// whose outcome was never written (a batch lost in a crash). Worker
// processes run it at start and then every minute, well inside River's
// retention of completed jobs.
func (t *Table) Sweep(ctx context.Context) (int64, error) {
	now := t.now()
	var n int64
	err := t.Store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		rows, err := tx.Query(ctx, `UPDATE switchboard_delivery SET state = 'delivered', attempts = attempts + 1,
		updated_at = $1, delivered_at = $1, error_class = NULL, error_code = NULL
		WHERE state IN ('queued', 'retrying') AND job_id IN (SELECT id FROM river_job WHERE state = 'completed')
		RETURNING transfer_id, entry, destination, resource_type, interaction, audit_subject, key_generation, attempts`, now.UnixMicro())
		if err != nil {
			return err
		}
		var logRows []transferlog.Row
		for rows.Next() {
			var o Outcome
			var f facts
			var subj sql.NullString
			if err := rows.Scan(&o.TransferID, &o.Entry, &o.Destination, &f.resourceType, &f.interaction, &subj, &f.keyGeneration, &o.Attempt); err != nil {
				_ = rows.Close()
				return err
			}
			f.auditSubject = subj.String
			o.State, o.At, o.CountTry = StateDelivered, now, true
			// The try's own row was lost with its batch: what the log
			// knows is that River completed the job.
			o.ErrorCode = "outcome_recovered"
			logRows = append(logRows, attemptRow(o, f))
		}
		if err := rows.Close(); err != nil {
			return err
		}
		n = int64(len(logRows))
		return transferlog.Stage(ctx, tx, logRows...)
	})
	if err != nil {
		return 0, fmt.Errorf("delivery: sweep delivered outcomes: %w", err)
	}
	return n, nil
}
