package admin

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"

	"github.com/switchboard-health/switchboard/hub/store"
	"github.com/switchboard-health/switchboard/hub/transferlog"
)

// PurgeArgs is the periodic purge job (no arguments).
type PurgeArgs struct{}

// Kind implements river.JobArgs.
func (PurgeArgs) Kind() string { return "switchboard.purge" }

// PurgeWorker deletes the sealed payloads of failed syncs older than the
// replay window, and webhook de-duplication rows older than WebhookKeep,
// and records each purged payload in the transfer log
// (docs/decisions/0002-phi-sealed-in-the-queue.md). River's own cleaner
// removes cancelled jobs only a day after the window (server wiring), so the
// purge, which records, comes first; a job that vanished anyway is recorded
// as such.
type PurgeWorker struct {
	river.WorkerDefaults[PurgeArgs]
	Service     *Service
	WebhookKeep time.Duration
	Logger      *slog.Logger
}

// PurgeEvery is how often the purge runs.
const PurgeEvery = time.Hour

// PurgePeriodicJob runs the purge hourly and at start.
func PurgePeriodicJob() *river.PeriodicJob {
	return river.NewPeriodicJob(river.PeriodicInterval(PurgeEvery), func() (river.JobArgs, *river.InsertOpts) {
		return PurgeArgs{}, &river.InsertOpts{Queue: MaintenanceQueue, UniqueOpts: river.UniqueOpts{ByArgs: true, ByPeriod: PurgeEvery}}
	}, &river.PeriodicJobOpts{RunOnStart: true})
}

// Work purges once.
func (w *PurgeWorker) Work(ctx context.Context, _ *river.Job[PurgeArgs]) error {
	n, hooks, err := w.Service.Purge(ctx, w.WebhookKeep)
	if err != nil {
		return err
	}
	if n > 0 || hooks > 0 {
		w.Logger.Info("purged", "payloads", n, "webhook_rows", hooks)
	}
	return nil
}

// Purge deletes what has outlived its window and returns the number of
// payloads and webhook rows deleted.
func (s *Service) Purge(ctx context.Context, webhookKeep time.Duration) (payloads, webhooks int, err error) {
	now := s.now()
	cutoff := now.Add(-s.replayWindow()).UnixMicro()
	err = s.Store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		payloads = 0
		rows, err := tx.Query(ctx, `UPDATE switchboard_delivery SET purged_at = $1
			WHERE state = 'failed' AND purged_at IS NULL AND updated_at < $2
			RETURNING transfer_id, entry, destination, resource_type, interaction, audit_subject,
			  (SELECT COUNT(*) FROM river_job j WHERE j.id = switchboard_delivery.job_id)`, now.UnixMicro(), cutoff)
		if err != nil {
			return fmt.Errorf("admin: purge: mark: %w", err)
		}
		var logRows []transferlog.Row
		for rows.Next() {
			var f Failure
			var present int
			if err := rows.Scan(&f.TransferID, &f.Entry, &f.Destination, &f.ResourceType, &f.Interaction, &f.auditSubject, &present); err != nil {
				_ = rows.Close()
				return fmt.Errorf("admin: purge: %w", err)
			}
			reason := "replay_window_passed"
			if present == 0 {
				reason = "job_already_removed"
			}
			logRows = append(logRows, actionRow(now, transferlog.EventPurge, "switchboard", f, map[string]any{
				"reason": reason, "window": s.replayWindow().String()}))
		}
		if err := rows.Close(); err != nil {
			return fmt.Errorf("admin: purge: %w", err)
		}
		// The jobs of the rows this pass marked (their purged_at is this
		// pass's time), in one statement however many there are.
		if _, err := tx.Exec(ctx, `DELETE FROM river_job WHERE id IN
			(SELECT job_id FROM switchboard_delivery WHERE purged_at = $1 AND state = 'failed' AND job_id IS NOT NULL)`, now.UnixMicro()); err != nil {
			return fmt.Errorf("admin: purge: delete jobs: %w", err)
		}
		payloads = len(logRows)
		if webhookKeep > 0 {
			n, err := tx.Exec(ctx, `DELETE FROM switchboard_webhook WHERE received_at < $1`, now.Add(-webhookKeep).UnixMicro())
			if err != nil {
				return fmt.Errorf("admin: purge webhook rows: %w", err)
			}
			webhooks = int(n)
			if n > 0 {
				logRows = append(logRows, transferlog.Row{At: now, Event: transferlog.EventPurge, Outcome: transferlog.EventPurge,
					Actor: "switchboard", Detail: map[string]any{"webhook_rows": n, "keep": webhookKeep.String()}})
			}
		}
		return transferlog.Stage(ctx, tx, logRows...)
	})
	return payloads, webhooks, err
}

// MaintenanceQueue runs the purge.
const MaintenanceQueue = "maintenance"
