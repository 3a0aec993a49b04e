package server

import (
	"context"
	"log/slog"

	"github.com/riverqueue/river"

	"github.com/switchboard-health/switchboard/hub/certs"
	"github.com/switchboard-health/switchboard/hub/config"
	"github.com/switchboard-health/switchboard/hub/metrics"
	"github.com/switchboard-health/switchboard/hub/route"
	"github.com/switchboard-health/switchboard/hub/store"
)

// riverSetup is what openStore tells the rest of New about River: the
// bundle the job workers are registered in (nil: this process works no
// jobs) and the queues the metrics report.
type riverSetup struct {
	workers    *river.Workers
	queueNames []string
}

// openStore opens the database and builds River's client on it.
func openStore(ctx context.Context, cfg config.Config, table *route.Table, log *slog.Logger) (store.Store, riverSetup, error) {
	rc, queueNames := riverConfig(cfg, table, log)
	st, err := store.Open(ctx, store.Config{
		DatabaseURL: cfg.DatabaseURL, SQLitePath: cfg.SQLitePath, MaxConns: cfg.PGMaxConns, River: rc, Logger: log,
	})
	if err != nil {
		return nil, riverSetup{}, err
	}
	return st, riverSetup{workers: rc.Workers, queueNames: queueNames}, nil
}

// migrate migrates the store when the configuration asks to, and returns
// the readiness probe, which knows the migrations are current if so.
func migrate(ctx context.Context, cfg config.Config, st store.Store) (*readiness, error) {
	r := &readiness{store: st}
	if cfg.AutoMigrate {
		if err := st.Migrate(ctx); err != nil {
			return nil, err
		}
		r.migrated.Store(true)
	}
	return r, nil
}

// loadKeys loads the seal and HMAC keys, warning loudly about generated
// development keys.
func loadKeys(cfg config.Config, log *slog.Logger) (config.Keys, error) {
	keys, err := cfg.LoadKeys()
	if err != nil {
		return keys, err
	}
	if keys.Generated {
		log.Warn("USING GENERATED DEVELOPMENT KEYS: queued payloads are sealed with keys kept in " + cfg.DevKeysPath +
			"; never use this mode for real patient data (set SWITCHBOARD_SEAL_KEYS and SWITCHBOARD_HMAC_KEY)")
	}
	return keys, nil
}

// loadCerts loads the TLS certificate when the hub terminates TLS (nil:
// plain HTTP, TLS ends at a proxy).
func loadCerts(cfg config.Config, log *slog.Logger) (*certs.Reloader, error) {
	if !cfg.ServesTLS() {
		return nil, nil
	}
	return certs.New(cfg.TLSCert, cfg.TLSKey, log.With("component", "tls"))
}

// newMetrics is nil when SWITCHBOARD_METRICS is false.
func newMetrics(cfg config.Config, version string) *metrics.Metrics {
	if !cfg.Metrics {
		return nil
	}
	return metrics.New(version, cfg.Role)
}
