// Package server wires the hub together from its configuration: the store
// and River, the connectors named by the routing table, the deliver worker,
// the transfer service and the HTTP API, with a graceful drain on shutdown.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/switchboard-health/switchboard/connectors"
	"github.com/switchboard-health/switchboard/hub/admin"
	"github.com/switchboard-health/switchboard/hub/alert"
	"github.com/switchboard-health/switchboard/hub/api"
	"github.com/switchboard-health/switchboard/hub/audit"
	"github.com/switchboard-health/switchboard/hub/auth"
	"github.com/switchboard-health/switchboard/hub/certs"
	"github.com/switchboard-health/switchboard/hub/config"
	"github.com/switchboard-health/switchboard/hub/consent"
	"github.com/switchboard-health/switchboard/hub/console"
	"github.com/switchboard-health/switchboard/hub/delivery"
	"github.com/switchboard-health/switchboard/hub/identity"
	"github.com/switchboard-health/switchboard/hub/ledger"
	"github.com/switchboard-health/switchboard/hub/metrics"
	"github.com/switchboard-health/switchboard/hub/quota"
	"github.com/switchboard-health/switchboard/hub/reconcile"
	"github.com/switchboard-health/switchboard/hub/route"
	"github.com/switchboard-health/switchboard/hub/store"
	"github.com/switchboard-health/switchboard/hub/tracing"
	"github.com/switchboard-health/switchboard/hub/transfer"
	"github.com/switchboard-health/switchboard/hub/transferlog"
	"github.com/switchboard-health/switchboard/hub/validation"
	"github.com/switchboard-health/switchboard/hub/webhook"
)

// Options builds a Hub.
type Options struct {
	Config config.Config
	Logger *slog.Logger
	// Env resolves the variables connectors name for their secrets.
	Env     connectors.Env
	Version string
	// CheckOnly stops New after the routing file, the keys and every
	// connector's configuration are checked, before anything is opened or
	// generated: `switchboard config check`. New then returns a nil Hub.
	CheckOnly bool
}

// Hub is a configured, not yet serving, Switchboard process.
type Hub struct {
	cfg       config.Config
	log       *slog.Logger
	Store     store.Store
	Transfers *transfer.Service
	// Deliveries owns the deliveries' rows and jobs.
	Deliveries *delivery.Table
	Routes     *route.Table
	handler    http.Handler
	migrated   atomic.Bool
	workers    bool
	poll       *reconcile.Worker
	Log        *transferlog.Log
	Admin      *admin.Service
	queueUI    interface{ Start(context.Context) error }
	oidc       *auth.OIDC
	breakers   *alert.Notifier
	// Rejections aggregates refused webhook requests into the transfer
	// log (one row per source and reason per minute); Flush writes what
	// it counted at once.
	Rejections *webhook.Rejections
	conns      map[string]connectors.Connector
	// Metrics is nil when SWITCHBOARD_METRICS is false.
	Metrics *metrics.Metrics
	// certs serves the TLS certificate when the hub terminates TLS (nil:
	// plain HTTP, TLS ends at a proxy).
	certs *certs.Reloader
}

// New builds the hub: loads the routing table and keys, builds the
// connectors (each validates its own configuration), opens the store and
// migrates it unless disabled.
func New(ctx context.Context, o Options) (*Hub, error) {
	cfg, log := o.Config, o.Logger
	table, err := route.Load(cfg.RoutesPath, validation.IsResourceType, o.Env)
	if err != nil {
		return nil, err
	}
	var errs []error
	var keyErr error
	if o.CheckOnly {
		keyErr = cfg.CheckKeys()
	}
	var keys config.Keys
	if !o.CheckOnly {
		if keys, err = cfg.LoadKeys(); err != nil {
			return nil, err
		}
	}
	if keys.Generated {
		log.Warn("USING GENERATED DEVELOPMENT KEYS: queued payloads are sealed with keys kept in " + cfg.DevKeysPath +
			"; never use this mode for real patient data (set SWITCHBOARD_SEAL_KEYS and SWITCHBOARD_HMAC_KEY)")
	}

	// Breaker changes reach the notifier, which needs the store: it is
	// built now and given the store once it is open.
	notifier := &alert.Notifier{Config: table.Alerts, Process: processName(), Logger: log.With("component", "alerts")}
	// Likewise the destinations' rate limits, shared through the database.
	quotas := &quota.Shared{Horizon: cfg.RateLimitWait}
	conns := map[string]connectors.Connector{}
	adminDests := map[string]admin.Destination{}
	dests := map[string]delivery.Destination{}
	searchers := map[string]connectors.Searcher{}
	verifiers := map[string]connectors.WebhookVerifier{}
	translators := map[string]connectors.WebhookTranslator{}
	pollers := map[string]reconcile.Source{}
	synced := map[string]map[string]bool{} // destination -> types it reports changes of (nil: all)
	maxAttempts := map[string]int{}
	queues := map[string]river.QueueConfig{}
	for _, name := range table.DestinationNames() {
		d := table.Destinations[name]
		spec, ok := connectors.Lookup(d.Type)
		if !ok {
			errs = append(errs, fmt.Errorf("destination %q: unknown connector type %q (registered: %v)", name, d.Type, connectors.Types()))
			continue
		}
		conn, err := spec.New(connectors.Params{Name: name, Decode: d.Decoder(), Env: o.Env, Logger: log.With("destination", name),
			Breakers: notifier, Limiter: quotas.Destination(name)})
		if err != nil {
			errs = append(errs, fmt.Errorf("destination %q: %w", name, err))
			continue
		}
		if err := quotas.Configure(name, d.Limit(conn)); err != nil {
			errs = append(errs, fmt.Errorf("destination %q: %w", name, err))
			continue
		}
		conns[name] = conn
		ad := admin.Destination{Type: d.Type}
		if rd, ok := conn.(connectors.Reader); ok {
			ad.Reader = rd
		}
		adminDests[name] = ad
		dests[name] = delivery.Destination{Connector: conn, MaxAttempts: d.MaxAttempts}
		if sr, ok := conn.(connectors.Searcher); ok {
			searchers[name] = sr
		}
		if v, ok := conn.(connectors.WebhookVerifier); ok {
			verifiers[name] = v
		}
		if tr, ok := conn.(connectors.WebhookTranslator); ok {
			translators[name] = tr
			synced[name] = nil // a webhook may report a change of any type
		}
		if pc := d.Poll; pc != nil {
			pl, ok := conn.(connectors.Poller)
			if !ok {
				errs = append(errs, fmt.Errorf("destination %q: poll: connector type %s cannot be polled", name, d.Type))
			} else {
				since, _ := time.Parse(time.RFC3339, pc.Since)
				pollers[name] = reconcile.Source{Poller: pl, Interval: pc.Interval, PageSize: pc.PageSize, Overlap: pc.Overlap, Since: since}
				if _, all := synced[name]; !all { // its webhooks, if any, report every type
					types := map[string]bool{}
					for _, t := range pl.PollTypes() {
						types[t] = true
					}
					synced[name] = types
				}
			}
		}
		maxAttempts[name] = d.MaxAttempts
		queues[delivery.QueueName(name)] = river.QueueConfig{MaxWorkers: d.MaxWorkers}
	}
	gateSources := map[string]string{}
	for name, d := range table.Destinations {
		r := d.RequiresConsent
		if r == nil {
			continue
		}
		src := searchers[r.From]
		if src == nil {
			errs = append(errs, fmt.Errorf("destination %q: requires_consent.from %q cannot answer Consent searches", name, r.From))
			continue
		}
		dd := dests[name]
		dd.Gate = &consent.Gate{Purpose: r.Purpose, Source: src}
		dests[name] = dd
		gateSources[name] = r.From
	}
	var readers = map[string]connectors.Reader{}
	var writers = map[string]connectors.IdentifierWriter{}
	if id := table.Identity; id != nil {
		conn := dests[id.RecordAt].Connector
		rd, rok := conn.(connectors.Reader)
		wr, wok := conn.(connectors.IdentifierWriter)
		if conn != nil && (!rok || !wok) {
			errs = append(errs, fmt.Errorf("identity.record_at: destination %q (type %s) cannot read and write identifiers", id.RecordAt, table.Destinations[id.RecordAt].Type))
		} else if conn != nil {
			readers[id.RecordAt], writers[id.RecordAt] = rd, wr
		}
	}
	var driftRules []reconcile.DriftRule
	for i, d := range table.Drift {
		sr, er := searchers[d.Scheduling()], searchers[d.EHR()]
		_, sok := dests[d.Scheduling()]
		_, eok := dests[d.EHR()]
		if !sok || !eok {
			continue // the connector's own error is reported
		}
		if sr == nil || er == nil {
			errs = append(errs, fmt.Errorf("drift[%d]: destinations %q and %q must both answer searches", i, d.Scheduling(), d.EHR()))
			continue
		}
		pair, ok := dests[d.Scheduling()].Connector.(connectors.Pairer)
		if !ok {
			errs = append(errs, fmt.Errorf("drift[%d]: destination %q (type %s) cannot pair its records with the EHR's", i, d.Scheduling(), table.Destinations[d.Scheduling()].Type))
			continue
		}
		driftRules = append(driftRules, reconcile.DriftRule{Scheduling: d.Scheduling(), EHR: d.EHR(),
			SchedulingSearch: sr, EHRSearch: er, Pair: pair, Window: d.Window, Every: d.Every})
	}
	for _, r := range table.Reads {
		if _, ok := dests[r.From]; ok && searchers[r.From] == nil {
			errs = append(errs, fmt.Errorf("reads: destination %q (type %s) cannot answer searches", r.From, table.Destinations[r.From].Type))
		}
	}
	if o.CheckOnly && table.Alerts != nil {
		if _, err := alert.NewWorker(*table.Alerts, o.Env, log); err != nil {
			errs = append(errs, fmt.Errorf("alerts: %w", err))
		}
	}
	if len(errs) > 0 || keyErr != nil {
		for i, err := range errs {
			errs[i] = fmt.Errorf("routing file %s: %w", cfg.RoutesPath, err)
		}
		return nil, errors.Join(append(errs, keyErr)...)
	}
	if o.CheckOnly {
		return nil, nil
	}

	v, err := validation.New()
	if err != nil {
		return nil, err
	}
	validate := func(typ string, body []byte) error { _, err := v.Resource(body, typ); return err }
	h := &Hub{cfg: cfg, log: log, Routes: table, workers: cfg.RunsWorkers(), breakers: notifier, conns: conns}
	if cfg.ServesTLS() {
		if h.certs, err = certs.New(cfg.TLSCert, cfg.TLSKey, log.With("component", "tls")); err != nil {
			return nil, err
		}
	}
	if cfg.Metrics {
		h.Metrics = metrics.New(o.Version, cfg.Role)
	}
	rc := &river.Config{
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
	}
	// River fetches at most MaxWorkers jobs per fetch and then waits the
	// cooldown (100ms by default), which caps a busy queue at MaxWorkers per
	// 100ms: 500 deliveries/s with 50 workers. A shorter cooldown only costs
	// fetch queries while jobs are waiting.
	// Trace context crosses the queue in each job's metadata.
	rc.Middleware = []rivertype.Middleware{&tracing.River{SpanName: func(kind string) string {
		if kind == delivery.Kind {
			return "deliver"
		}
		return ""
	}}}
	rc.FetchCooldown = cfg.FetchCooldown
	if rc.FetchCooldown == 0 {
		rc.FetchCooldown = 10 * time.Millisecond
	}
	if !cfg.Postgres() {
		// SQLite has no LISTEN/NOTIFY: producers poll, so poll briskly, and
		// leave the single connection some room between fetches.
		rc.FetchPollInterval = 100 * time.Millisecond
		if cfg.FetchCooldown == 0 {
			rc.FetchCooldown = 50 * time.Millisecond
		}
	}
	deliveries := &delivery.Table{}
	svc := &transfer.Service{Keys: keys.Ring, MAC: keys.MAC, Router: table, MaxAttempts: maxAttempts, GateSources: gateSources,
		Deliveries: deliveries}
	led := &ledger.Ledger{MAC: keys.MAC}
	tlog := &transferlog.Log{MAC: keys.MAC, Logger: log.With("component", "transferlog")}
	adm := &admin.Service{Deliveries: deliveries, Keys: keys.Ring, Log: tlog, Destinations: adminDests, ReplayWindow: cfg.ReplayWindow}
	var writeBacks *identity.Recorder
	if h.workers {
		workers := river.NewWorkers()
		dw := &delivery.Worker{
			Keys: keys.Ring, Destinations: dests, Recorder: deliveries, Order: deliveries, Refs: deliveries, States: deliveries,
			Logger: log.With("component", "deliver"), TryTimeout: cfg.TryTimeout,
			Ledger: led, Synced: synced,
			Digest: func(b []byte) string { d, _ := transferlog.Digest(keys.MAC, b); return d },
			Failed: notifier.DeliveryFailed,
		}
		if id := table.Identity; id != nil {
			svc.IdentityAt = id.RecordAt
			dw.Enricher = &identity.Enricher{Source: id.RecordAt, Reader: readers[id.RecordAt], Project: table.Project, Full: table.FullProjection}
			writeBacks = &identity.Recorder{Keys: keys.Ring, Target: id.RecordAt, Routed: func(typ string, in connectors.Interaction) bool {
				return slices.Contains(table.For(typ, in), id.RecordAt)
			}}
			dw.WriteBacks = writeBacks
			river.AddWorker(workers, &identity.Worker{Keys: keys.Ring, Deliveries: deliveries, Writers: writers,
				Logger: log.With("component", "identity")})
		}
		if h.Metrics != nil {
			dw.Metrics = h.Metrics
		}
		river.AddWorker(workers, dw)
		river.AddWorker(workers, &webhook.Worker{Keys: keys.Ring, Translators: translators, Transfers: svc,
			Validate: validate, Ledger: led, Log: tlog, Logger: log.With("component", "webhooks")})
		queues[webhook.Queue] = river.QueueConfig{MaxWorkers: 5}
		if len(pollers) > 0 {
			h.poll = &reconcile.Worker{Sources: pollers, Ledger: led, Transfers: svc, Validate: validate, Log: tlog,
				Alerts: notifier, Logger: log.With("component", "reconcile")}
			river.AddWorker(workers, h.poll)
			queues[reconcile.Queue] = river.QueueConfig{MaxWorkers: 2}
			rc.PeriodicJobs = reconcile.PeriodicJobs(pollers)
		}
		if len(driftRules) > 0 {
			river.AddWorker(workers, &reconcile.DriftWorker{Rules: driftRules, Ledger: led, Transfers: svc, Validate: validate,
				Log: tlog, Logger: log.With("component", "drift")})
			queues[reconcile.Queue] = river.QueueConfig{MaxWorkers: 2}
			rc.PeriodicJobs = append(rc.PeriodicJobs, reconcile.DriftPeriodicJobs(driftRules)...)
		}
		river.AddWorker(workers, &admin.PurgeWorker{Service: adm, WebhookKeep: cfg.WebhookKeep, Logger: log.With("component", "purge")})
		queues[admin.MaintenanceQueue] = river.QueueConfig{MaxWorkers: 1}
		rc.PeriodicJobs = append(rc.PeriodicJobs, admin.PurgePeriodicJob())
		if table.Alerts != nil {
			aw, err := alert.NewWorker(*table.Alerts, o.Env, log.With("component", "alerts"))
			if err != nil {
				return nil, fmt.Errorf("routing file %s: alerts: %w", cfg.RoutesPath, err)
			}
			river.AddWorker(workers, aw)
			queues[alert.Queue] = river.QueueConfig{MaxWorkers: 2}
		}
		rc.Workers, rc.Queues = workers, queues
	} else if id := table.Identity; id != nil {
		svc.IdentityAt = id.RecordAt
	}
	st, err := store.Open(ctx, store.Config{
		DatabaseURL: cfg.DatabaseURL, SQLitePath: cfg.SQLitePath, MaxConns: cfg.PGMaxConns, River: rc, Logger: log,
	})
	if err != nil {
		return nil, err
	}
	svc.Store, deliveries.Store = st, st
	led.DB, tlog.Store = st.DB(), st
	adm.Store = st
	notifier.DB = st.DB()
	quotas.DB = st.DB()
	for _, name := range table.DestinationNames() {
		if l, ok := quotas.Limit(name); ok {
			log.Info("destination rate limit", "destination", name, "per_second", l.PerSecond, "burst", l.Burst,
				"from_routing_file", table.Destinations[name].RateLimit != nil)
		}
	}
	notifier.Insert = alert.StoreInserter(st)
	h.Log, h.Admin = tlog, adm
	if h.poll != nil {
		h.poll.Store = st
	}
	if writeBacks != nil {
		writeBacks.Store = st
	}
	h.Store, h.Transfers, h.Deliveries = st, svc, deliveries
	if h.Metrics != nil {
		h.Metrics.Known(table.DestinationNames(), slices.Sorted(maps.Keys(verifiers)))
		quotas.Throttled = h.Metrics.Throttled
		queueNames := slices.Sorted(maps.Keys(queues))
		h.Metrics.Register(&metrics.QueueCollector{DB: st.DB(), Queues: func() []string { return queueNames },
			Logger: log.With("component", "metrics")})
		h.Metrics.Register(&metrics.BreakerCollector{States: h.breakerStates})
		if len(pollers) > 0 {
			h.Metrics.Register(&metrics.LagCollector{DB: st.DB(), Logger: log.With("component", "metrics")})
		}
	}
	if cfg.AutoMigrate {
		if err := st.Migrate(ctx); err != nil {
			st.Close()
			return nil, err
		}
		h.migrated.Store(true)
	}

	oidc, err := auth.OIDCFromEnv(ctx, o.Env, nil)
	if err != nil {
		st.Close()
		return nil, err
	}
	queueUI, err := st.QueueUI(log.With("component", "riverui"), "/admin/queue")
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("river ui: %w", err)
	}
	h.queueUI, h.oidc = queueUI, oidc
	h.Rejections = &webhook.Rejections{Log: tlog, Count: h.Metrics.WebhookRejected, Logger: log.With("component", "webhooks")}
	// Inbound limits are per process (docs/decisions/0012-rate-limits.md).
	inbound := &quota.Inbound{}
	webhookLimit := quota.Limit{PerSecond: cfg.WebhookRate, Burst: int(cfg.WebhookBurst)}
	h.handler = (&api.Server{
		Auth:      &auth.Authenticator{Clients: &auth.Clients{DB: st.DB()}, OIDC: oidc},
		Admin:     &admin.Handlers{Service: adm, Actor: api.Actor},
		Audit:     &audit.Handlers{Log: tlog, MAC: keys.MAC, Actor: api.Actor, Logger: log.With("component", "audit")},
		Console:   console.Handler(),
		Queue:     queueUI,
		Validator: v, Transfers: svc, Routes: table, MaxBodyBytes: cfg.MaxBodyBytes, MaxBundleEntries: cfg.MaxEntries,
		Logger: log.With("component", "api"), Ready: h.ready, Version: o.Version,
		Searchers: searchers, Keys: keys.Ring,
		Webhooks: &webhook.Intake{Store: st, Keys: keys.Ring, MAC: keys.MAC, Sources: verifiers, Log: tlog,
			Rejections: h.Rejections, Logger: log.With("component", "webhooks"), Admit: func(source string) time.Duration {
				return inbound.Admit("webhook:"+source, webhookLimit)
			}},
		Inbound:        inbound,
		ClientLimit:    quota.Limit{PerSecond: cfg.ClientRate, Burst: int(cfg.ClientBurst)},
		PublicURL:      cfg.PublicURL,
		TrustedProxies: cfg.TrustedProxies,
		CORSOrigins:    cfg.CORSOrigins,
		HealthOnly:     !cfg.RunsAPI(),
		Metrics:        h.Metrics,
		DBTimeout:      cfg.DBTimeout,
	}).Handler()
	return h, nil
}

// Handler is the HTTP API (worker-only processes serve health only).
func (h *Hub) Handler() http.Handler { return h.handler }

func (h *Hub) ready(ctx context.Context) error {
	if err := h.Store.Ping(ctx); err != nil {
		return errors.New("database unreachable")
	}
	if !h.migrated.Load() {
		ok, err := h.Store.MigrationsCurrent(ctx)
		if err != nil || !ok {
			return errors.New("migrations not current")
		}
		h.migrated.Store(true)
	}
	return nil
}

// chainEvery is how often staged transfer-log rows are chained.
const chainEvery = 200 * time.Millisecond

// heartbeat publishes this process's breaker states for the admin health
// view every 15 seconds (changes are published as they happen, too).
func (h *Hub) heartbeat(ctx context.Context) {
	t := time.NewTicker(15 * time.Second)
	defer t.Stop()
	for {
		h.breakers.Heartbeat(ctx, h.breakerStates())
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// breakerStates reads each destination's breaker in this process.
func (h *Hub) breakerStates() map[string]string {
	states := map[string]string{}
	for name, c := range h.conns {
		if b, ok := c.(interface{ BreakerState() string }); ok {
			states[name] = b.BreakerState()
		}
	}
	return states
}

// reloadOnHangUp reloads the TLS certificate on SIGHUP until ctx ends (a
// handshake also notices changed files by itself within a second).
func (h *Hub) reloadOnHangUp(ctx context.Context, hup <-chan os.Signal) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			_ = h.certs.Reload() // logs what it loaded, or why not
		}
	}
}

// processName names this process in the breaker table: host and pid.
func processName() string {
	host, _ := os.Hostname()
	return host + ":" + strconv.Itoa(os.Getpid())
}

// sweep repairs delivery rows whose outcome batch was lost, at start and
// every minute, until ctx ends.
func (h *Hub) sweep(ctx context.Context, done chan struct{}) {
	defer close(done)
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		if n, err := h.Deliveries.Sweep(ctx); err != nil && ctx.Err() == nil {
			h.log.Warn("outcome sweep failed", "error", err)
		} else if n > 0 {
			h.log.Info("outcome sweep repaired deliveries", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Serve starts the workers (for worker roles) and the HTTP server on ln,
// and blocks until ctx ends; then it stops accepting, finishes in-flight
// requests and jobs within the shutdown deadline, and closes the store.
//
// With a TLS certificate configured it serves HTTPS on ln (plain HTTP sent
// there gets net/http's 400), reloads the certificate on SIGHUP, and, with
// SWITCHBOARD_HTTP_REDIRECT_ADDR, serves the redirect to HTTPS there too.
func (h *Hub) Serve(ctx context.Context, ln net.Listener) error {
	var redirect *http.Server
	var redirectLn net.Listener
	redirectStarted := false
	if h.certs != nil && h.cfg.RedirectAddr != "" {
		var err error
		if redirectLn, err = net.Listen("tcp", h.cfg.RedirectAddr); err != nil {
			return fmt.Errorf("listen on %s (SWITCHBOARD_HTTP_REDIRECT_ADDR): %w", h.cfg.RedirectAddr, err)
		}
		defer func() {
			if !redirectStarted { // Serve returned before serving it
				redirectLn.Close()
			}
		}()
		redirect = &http.Server{Handler: api.RedirectToHTTPS(h.cfg.PublicURL), ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second, IdleTimeout: time.Minute,
			ErrorLog: httpErrorLog(h.log.With("component", "http-redirect"))}
	}
	var sweepDone chan struct{}
	var batcher interface{ Close() }
	if h.workers {
		batcher = h.Deliveries.StartBatcher(h.log.With("component", "outcomes"))
		sweepDone = make(chan struct{})
		go h.sweep(ctx, sweepDone)
		if err := h.Store.StartWorkers(ctx); err != nil {
			batcher.Close()
			return err
		}
	}
	chainCtx, stopChain := context.WithCancel(context.WithoutCancel(ctx))
	chainDone := make(chan struct{})
	go func() { defer close(chainDone); h.Log.RunChainer(chainCtx, chainEvery) }()
	rejCtx, stopRejections := context.WithCancel(context.WithoutCancel(ctx))
	rejDone := make(chan struct{})
	go func() { defer close(rejDone); h.Rejections.Run(rejCtx) }()
	if err := h.queueUI.Start(ctx); err != nil {
		stopRejections()
		<-rejDone
		stopChain()
		<-chainDone
		return fmt.Errorf("river ui: %w", err)
	}
	if h.workers {
		go h.heartbeat(ctx)
		go h.rescue(ctx)
	}
	srv := &http.Server{
		Handler:           h.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          httpErrorLog(h.log.With("component", "http")),
	}
	errc := make(chan error, 1)
	if h.certs != nil {
		srv.TLSConfig = h.certs.Config()
		// Registered before serving: from then on SIGHUP reloads rather
		// than ending the process (Go's default).
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
		go h.reloadOnHangUp(ctx, hup)
		go func() { errc <- srv.ServeTLS(ln, "", "") }()
	} else {
		go func() { errc <- srv.Serve(ln) }()
	}
	if redirect != nil {
		redirectStarted = true
		go func() {
			if err := redirect.Serve(redirectLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				h.log.Error("redirect listener stopped", "error", err)
			}
		}()
	}
	h.log.Info("switchboard serving", "addr", ln.Addr().String(), "tls", h.certs != nil, "redirect_addr", h.cfg.RedirectAddr,
		"role", h.cfg.Role, "database", string(h.Store.Dialect()))

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	h.log.Info("switchboard draining", "deadline", h.cfg.ShutdownTimeout.String())
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), h.cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(dctx); err != nil {
		h.log.Warn("http drain incomplete", "error", err)
	}
	if redirect != nil {
		_ = redirect.Shutdown(dctx)
	}
	if h.workers {
		if err := h.Store.StopWorkers(dctx); err != nil {
			h.log.Warn("job drain incomplete", "error", err)
		}
		batcher.Close()
		<-sweepDone
		h.breakers.Wait()
	}
	// The rejections counted until the HTTP drain ended are written, and
	// the chainer's last pass chains them with what the drain staged.
	stopRejections()
	<-rejDone
	stopChain()
	<-chainDone
	_ = h.oidc.Close(dctx)
	h.Store.Close()
	h.log.Info("switchboard stopped")
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return serveErr
	}
	return nil
}
