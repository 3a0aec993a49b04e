package server

import (
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/switchboard-health/switchboard/hub/admin"
	"github.com/switchboard-health/switchboard/hub/alert"
	"github.com/switchboard-health/switchboard/hub/config"
	"github.com/switchboard-health/switchboard/hub/delivery"
	"github.com/switchboard-health/switchboard/hub/reconcile"
	"github.com/switchboard-health/switchboard/hub/route"
	"github.com/switchboard-health/switchboard/hub/tracing"
	"github.com/switchboard-health/switchboard/hub/webhook"
)

// riverConfig is River's configuration, built from the configuration and
// the routing table alone so that the store can open before anything that
// uses it is built. A worker process gets an empty Workers bundle, which
// buildWorkers fills before the workers start. queueNames are the queues
// the metrics report.
func riverConfig(cfg config.Config, table *route.Table, log *slog.Logger) (*river.Config, []string) {
	queues := map[string]river.QueueConfig{}
	for _, name := range table.DestinationNames() {
		queues[delivery.QueueName(name)] = river.QueueConfig{MaxWorkers: table.Destinations[name].MaxWorkers}
	}
	queueNames := slices.Sorted(maps.Keys(queues)) // a process that works no jobs reports the deliveries'
	var workers *river.Workers
	var workQueues map[string]river.QueueConfig
	var periodic []*river.PeriodicJob
	if cfg.RunsWorkers() {
		periodic = addWorkerQueues(queues, table)
		workers, workQueues, queueNames = river.NewWorkers(), queues, slices.Sorted(maps.Keys(queues))
	}
	var pollInterval time.Duration // River's default
	if !cfg.Postgres() {
		// SQLite has no LISTEN/NOTIFY: producers poll, so poll briskly.
		pollInterval = 100 * time.Millisecond
	}
	return &river.Config{
		Logger:                      log.With("component", "river"),
		RetryPolicy:                 delivery.RetryPolicy{Base: cfg.RetryBase, Max: cfg.RetryMax},
		CompletedJobRetentionPeriod: cfg.CompletedKeep,
		// A failed sync's job holds its sealed payload for replay: the
		// purge job deletes it after the replay window and records that;
		// River's own cleaner only sweeps, a day later, what is left
		// (cancelled jobs of other kinds, and anything the purge missed).
		CancelledJobRetentionPeriod: cfg.ReplayWindow + 24*time.Hour,
		DiscardedJobRetentionPeriod: cfg.ReplayWindow + 24*time.Hour,
		JobTimeout:                  cfg.TryTimeout,
		// A job still running after this belongs to a process that died
		// (SIGKILL, OOM): River's rescuer makes it retryable again. The
		// vendor idempotency key makes the second try safe.
		RescueStuckJobsAfter: cfg.RescueAfter,
		// Trace context crosses the queue in each job's metadata.
		Middleware: []rivertype.Middleware{&tracing.River{SpanName: func(kind string) string {
			if kind == delivery.Kind {
				return "deliver"
			}
			return ""
		}}},
		FetchCooldown:     fetchCooldown(cfg),
		FetchPollInterval: pollInterval,
		Workers:           workers,
		Queues:            workQueues,
		PeriodicJobs:      periodic,
	}, queueNames
}

// fetchCooldown is how long River waits after a fetch. River fetches at
// most MaxWorkers jobs per fetch and then waits the cooldown (100ms by
// default), which caps a busy queue at MaxWorkers per 100ms: 500
// deliveries/s with 50 workers. A shorter cooldown only costs fetch
// queries while jobs are waiting. SQLite's single connection is left some
// room between fetches.
func fetchCooldown(cfg config.Config) time.Duration {
	switch {
	case cfg.FetchCooldown != 0:
		return cfg.FetchCooldown
	case !cfg.Postgres():
		return 50 * time.Millisecond
	default:
		return 10 * time.Millisecond
	}
}

// addWorkerQueues adds the queues of the workers buildWorkers registers and
// returns their periodic jobs. These need only each poll's and drift
// rule's names and intervals, which the routing table holds.
func addWorkerQueues(queues map[string]river.QueueConfig, table *route.Table) []*river.PeriodicJob {
	queues[webhook.Queue] = river.QueueConfig{MaxWorkers: 5}
	polls := map[string]reconcile.Source{}
	for name, d := range table.Destinations {
		if d.Poll != nil {
			polls[name] = reconcile.Source{Interval: d.Poll.Interval}
		}
	}
	var drift []reconcile.DriftRule
	for _, d := range table.Drift {
		drift = append(drift, reconcile.DriftRule{Scheduling: d.Scheduling(), EHR: d.EHR(), Every: d.Every})
	}
	if len(polls) > 0 || len(drift) > 0 {
		queues[reconcile.Queue] = river.QueueConfig{MaxWorkers: 2}
	}
	queues[admin.MaintenanceQueue] = river.QueueConfig{MaxWorkers: 1}
	if table.Alerts != nil {
		queues[alert.Queue] = river.QueueConfig{MaxWorkers: 2}
	}
	jobs := append(reconcile.PeriodicJobs(polls), reconcile.DriftPeriodicJobs(drift)...)
	return append(jobs, admin.PurgePeriodicJob())
}
