package server

import (
	"log/slog"
	"slices"

	"github.com/riverqueue/river"

	"github.com/switchboard-health/switchboard/connectors"
	"github.com/switchboard-health/switchboard/hub/alert"
	"github.com/switchboard-health/switchboard/hub/config"
	"github.com/switchboard-health/switchboard/hub/delivery"
	"github.com/switchboard-health/switchboard/hub/identity"
	"github.com/switchboard-health/switchboard/hub/metrics"
	"github.com/switchboard-health/switchboard/hub/reconcile"
	"github.com/switchboard-health/switchboard/hub/route"
	"github.com/switchboard-health/switchboard/hub/store"
	"github.com/switchboard-health/switchboard/hub/transferlog"
	"github.com/switchboard-health/switchboard/hub/webhook"
)

// workerDeps is what the job workers are built from.
type workerDeps struct {
	cfg      config.Config
	env      connectors.Env
	table    *route.Table
	keys     config.Keys
	store    store.Store
	dests    *destinations
	svc      services
	notifier *alert.Notifier
	metrics  *metrics.Metrics
	validate func(typ string, body []byte) error
	log      *slog.Logger
}

// buildWorkers registers every job worker in workers, River's bundle
// (riverConfig made the queues and periodic jobs they work).
func buildWorkers(workers *river.Workers, d workerDeps) error {
	river.AddWorker(workers, buildDeliver(d))
	if id := d.table.Identity; id != nil {
		river.AddWorker(workers, &identity.Worker{Keys: d.keys.Ring, Deliveries: d.svc.deliveries, Writers: d.dests.writers,
			Logger: d.log.With("component", "identity")})
	}
	river.AddWorker(workers, &webhook.Worker{Keys: d.keys.Ring, Translators: d.dests.translators, Transfers: d.svc.transfers,
		Validate: d.validate, Ledger: d.svc.ledger, Log: d.svc.log, Logger: d.log.With("component", "webhooks")})
	if len(d.dests.pollers) > 0 {
		river.AddWorker(workers, &reconcile.Worker{Store: d.store, Sources: d.dests.pollers, Ledger: d.svc.ledger,
			Transfers: d.svc.transfers, Validate: d.validate, Log: d.svc.log, Alerts: d.notifier,
			Logger: d.log.With("component", "reconcile")})
	}
	if len(d.dests.driftRules) > 0 {
		river.AddWorker(workers, &reconcile.DriftWorker{Rules: d.dests.driftRules, Ledger: d.svc.ledger, Transfers: d.svc.transfers,
			Validate: d.validate, Log: d.svc.log, Logger: d.log.With("component", "drift")})
	}
	return buildMaintenance(workers, d)
}

// buildDeliver is the deliver worker, with identity enrichment and
// write-backs when the routing file records identity.
func buildDeliver(d workerDeps) *delivery.Worker {
	var enricher delivery.Enricher
	var writeBacks delivery.WriteBacks
	if id := d.table.Identity; id != nil {
		enricher = &identity.Enricher{Source: id.RecordAt, Reader: d.dests.readers[id.RecordAt], Project: d.table.Project,
			Full: d.table.FullProjection}
		writeBacks = &identity.Recorder{Store: d.store, Keys: d.keys.Ring, Target: id.RecordAt,
			Routed: func(typ string, in connectors.Interaction) bool {
				return slices.Contains(d.table.For(typ, in), id.RecordAt)
			}}
	}
	var observer delivery.Observer // a nil *metrics.Metrics would not be a nil Observer
	if d.metrics != nil {
		observer = d.metrics
	}
	mac := d.keys.MAC
	return &delivery.Worker{
		Keys: d.keys.Ring, Destinations: d.dests.deliver, Recorder: d.svc.deliveries, Order: d.svc.deliveries,
		Refs: d.svc.deliveries, States: d.svc.deliveries,
		Logger: d.log.With("component", "deliver"), TryTimeout: d.cfg.TryTimeout,
		Ledger: d.svc.ledger, Synced: d.dests.synced,
		Digest:     func(b []byte) string { digest, _ := transferlog.Digest(mac, b); return digest },
		Failed:     d.notifier.DeliveryFailed,
		Enricher:   enricher,
		WriteBacks: writeBacks,
		Metrics:    observer,
	}
}
