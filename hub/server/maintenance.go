package server

import (
	"fmt"

	"github.com/riverqueue/river"

	"github.com/switchboard-health/switchboard/hub/admin"
	"github.com/switchboard-health/switchboard/hub/alert"
)

// buildMaintenance registers the purge of expired payloads and, when the
// routing file has alerts, the alert sender.
func buildMaintenance(workers *river.Workers, d workerDeps) error {
	river.AddWorker(workers, &admin.PurgeWorker{Service: d.svc.admin, WebhookKeep: d.cfg.WebhookKeep,
		Logger: d.log.With("component", "purge")})
	if d.table.Alerts == nil {
		return nil
	}
	aw, err := alert.NewWorker(*d.table.Alerts, d.env, d.log.With("component", "alerts"))
	if err != nil {
		return fmt.Errorf("routing file %s: alerts: %w", d.cfg.RoutesPath, err)
	}
	river.AddWorker(workers, aw)
	return nil
}
