package server

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/switchboard-health/switchboard/hub/admin"
	"github.com/switchboard-health/switchboard/hub/api"
	"github.com/switchboard-health/switchboard/hub/audit"
	"github.com/switchboard-health/switchboard/hub/auth"
	"github.com/switchboard-health/switchboard/hub/config"
	"github.com/switchboard-health/switchboard/hub/console"
	"github.com/switchboard-health/switchboard/hub/metrics"
	"github.com/switchboard-health/switchboard/hub/quota"
	"github.com/switchboard-health/switchboard/hub/route"
	"github.com/switchboard-health/switchboard/hub/store"
	"github.com/switchboard-health/switchboard/hub/validation"
	"github.com/switchboard-health/switchboard/hub/webhook"
)

// apiDeps is what the HTTP API is built from.
type apiDeps struct {
	cfg        config.Config
	version    string
	table      *route.Table
	keys       config.Keys
	store      store.Store
	dests      *destinations
	svc        services
	validator  *validation.Validator
	oidc       *auth.OIDC
	queueUI    http.Handler
	rejections *webhook.Rejections
	metrics    *metrics.Metrics
	ready      func(ctx context.Context) error
	log        *slog.Logger
}

// buildAPI is the HTTP API's handler.
func buildAPI(d apiDeps) http.Handler {
	// Inbound limits are per process (docs/decisions/0012-rate-limits.md).
	inbound := &quota.Inbound{}
	webhookLimit := quota.Limit{PerSecond: d.cfg.WebhookRate, Burst: int(d.cfg.WebhookBurst)}
	return (&api.Server{
		Auth:      &auth.Authenticator{Clients: &auth.Clients{DB: d.store.DB()}, OIDC: d.oidc},
		Admin:     &admin.Handlers{Service: d.svc.admin, Actor: api.Actor},
		Audit:     &audit.Handlers{Log: d.svc.log, MAC: d.keys.MAC, Actor: api.Actor, Logger: d.log.With("component", "audit")},
		Console:   console.Handler(),
		Queue:     d.queueUI,
		Validator: d.validator, Transfers: d.svc.transfers, Routes: d.table, MaxBodyBytes: d.cfg.MaxBodyBytes,
		MaxBundleEntries: d.cfg.MaxEntries,
		Logger:           d.log.With("component", "api"), Ready: d.ready, Version: d.version,
		Searchers: d.dests.searchers, Keys: d.keys.Ring,
		Webhooks: &webhook.Intake{Store: d.store, Keys: d.keys.Ring, MAC: d.keys.MAC, Sources: d.dests.verifiers, Log: d.svc.log,
			Rejections: d.rejections, Logger: d.log.With("component", "webhooks"), Admit: func(source string) time.Duration {
				return inbound.Admit("webhook:"+source, webhookLimit)
			}},
		Inbound:        inbound,
		ClientLimit:    quota.Limit{PerSecond: d.cfg.ClientRate, Burst: int(d.cfg.ClientBurst)},
		PublicURL:      d.cfg.PublicURL,
		TrustedProxies: d.cfg.TrustedProxies,
		CORSOrigins:    d.cfg.CORSOrigins,
		HealthOnly:     !d.cfg.RunsAPI(),
		Metrics:        d.metrics,
		DBTimeout:      d.cfg.DBTimeout,
	}).Handler()
}
