package transfer

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/switchboard-health/switchboard/hub/delivery"
)

// Successful outcomes are written in batches: one UPDATE per flush instead
// of one synchronous commit per delivery, which halved end-to-end throughput
// on PostgreSQL (see BENCHMARKS.md). Losing a batch in a crash loses nothing
// that matters: River has already recorded the job as completed, Status
// reads that while the job row exists, and Sweep repairs the row for good.
const (
	batchMax   = 256
	batchEvery = 20 * time.Millisecond
)

// Batcher buffers delivered outcomes for the Service.
type Batcher struct {
	svc  *Service
	in   chan delivery.Outcome
	done chan struct{}
	log  *slog.Logger
}

// StartBatcher starts the flusher; Close flushes what is buffered and stops it.
func (s *Service) StartBatcher(log *slog.Logger) *Batcher {
	b := &Batcher{svc: s, in: make(chan delivery.Outcome, 4*batchMax), done: make(chan struct{}), log: log}
	go b.run()
	s.batcher = b
	return b
}

// Close flushes and stops the batcher.
func (b *Batcher) Close() {
	close(b.in)
	<-b.done
}

func (b *Batcher) run() {
	defer close(b.done)
	buf := make([]delivery.Outcome, 0, batchMax)
	tick := time.NewTicker(batchEvery)
	defer tick.Stop()
	flush := func() {
		if len(buf) == 0 {
			return
		}
		if err := b.svc.recordDelivered(context.Background(), buf); err != nil {
			b.log.Error("record delivered outcomes (Sweep will repair them)", "count", len(buf), "error", err)
		}
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

func (s *Service) recordDelivered(ctx context.Context, os []delivery.Outcome) error {
	var q strings.Builder
	q.WriteString(`WITH v(transfer_id, entry, destination, status, at) AS (VALUES `)
	args := make([]any, 0, len(os)*5)
	for i, o := range os {
		if i > 0 {
			q.WriteString(", ")
		}
		n := len(args)
		fmt.Fprintf(&q, "(CAST($%d AS TEXT), CAST($%d AS INTEGER), CAST($%d AS TEXT), CAST($%d AS INTEGER), CAST($%d AS BIGINT))", n+1, n+2, n+3, n+4, n+5)
		args = append(args, o.TransferID, o.Entry, o.Destination, o.HTTPStatus, o.At.UnixMicro())
	}
	q.WriteString(`) UPDATE switchboard_delivery SET state = 'delivered', attempts = switchboard_delivery.attempts + 1,
		last_status = v.status, error_class = NULL, error_code = NULL, updated_at = v.at, delivered_at = v.at
		FROM v WHERE switchboard_delivery.transfer_id = v.transfer_id AND switchboard_delivery.entry = v.entry
		AND switchboard_delivery.destination = v.destination
		RETURNING switchboard_delivery.transfer_id, switchboard_delivery.entry, switchboard_delivery.destination, switchboard_delivery.waiter`)
	rows, err := s.Store.DB().Query(ctx, q.String(), args...)
	if err != nil {
		return err
	}
	type key struct {
		transfer, dest string
		entry          int
	}
	var wake []key
	for rows.Next() {
		var k key
		var waiter int
		if err := rows.Scan(&k.transfer, &k.entry, &k.dest, &waiter); err != nil {
			_ = rows.Close()
			return err
		}
		if waiter == 1 {
			wake = append(wake, k)
		}
	}
	if err := rows.Close(); err != nil {
		return err
	}
	// Deliveries waiting behind these (same destination and patient) go now.
	for _, k := range wake {
		if err := s.Wake(ctx, k.transfer, k.entry, k.dest); err != nil {
			return err
		}
	}
	return nil
}

// Sweep marks as delivered the deliveries whose River job completed but
// whose outcome was never written (a batch lost in a crash). Worker
// processes run it at start and then every minute, well inside River's
// retention of completed jobs.
func (s *Service) Sweep(ctx context.Context) (int64, error) {
	n, err := s.Store.DB().Exec(ctx, `UPDATE switchboard_delivery SET state = 'delivered', attempts = attempts + 1,
		updated_at = $1, delivered_at = $1, error_class = NULL, error_code = NULL
		WHERE state IN ('queued', 'retrying') AND job_id IN (SELECT id FROM river_job WHERE state = 'completed')`, s.now().UnixMicro())
	if err != nil {
		return 0, fmt.Errorf("transfer: sweep delivered outcomes: %w", err)
	}
	return n, nil
}
