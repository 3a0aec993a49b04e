package admin

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"

	"github.com/switchboard-health/switchboard/hub/delivery"
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
	err = s.Store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		logRows, err := delivery.Purge(ctx, tx, now, s.replayWindow())
		if err != nil {
			return fmt.Errorf("admin: %w", err)
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
