// Package server wires the hub together from its configuration: the store
// and River, the connectors named by the routing table, the deliver worker,
// the transfer service and the HTTP API, with a graceful drain on shutdown.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/switchboard-health/switchboard/connectors"
	"github.com/switchboard-health/switchboard/hub/admin"
	"github.com/switchboard-health/switchboard/hub/alert"
	"github.com/switchboard-health/switchboard/hub/api"
	"github.com/switchboard-health/switchboard/hub/auth"
	"github.com/switchboard-health/switchboard/hub/certs"
	"github.com/switchboard-health/switchboard/hub/config"
	"github.com/switchboard-health/switchboard/hub/delivery"
	"github.com/switchboard-health/switchboard/hub/metrics"
	"github.com/switchboard-health/switchboard/hub/quota"
	"github.com/switchboard-health/switchboard/hub/route"
	"github.com/switchboard-health/switchboard/hub/store"
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
	workers    bool
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

// New builds the hub top to bottom, each part once and with everything it
// needs: the routing table and keys, the store (opened first: what follows
// is built on it), the connectors (each validates its own configuration,
// and the routing file's rules are checked against their capabilities),
// the services, the job workers and the HTTP API. Each builder lives in
// the file of this package named for what it builds.
func New(ctx context.Context, o Options) (*Hub, error) {
	cfg, log := o.Config, o.Logger
	table, err := route.Load(cfg.RoutesPath, validation.IsResourceType, o.Env)
	if err != nil {
		return nil, err
	}
	if o.CheckOnly {
		return nil, checkConfig(table, o)
	}
	keys, err := loadKeys(cfg, log)
	if err != nil {
		return nil, err
	}
	v, err := validation.New()
	if err != nil {
		return nil, err
	}
	tls, err := loadCerts(cfg, log)
	if err != nil {
		return nil, err
	}
	st, rs, err := openStore(ctx, cfg, table, log)
	if err != nil {
		return nil, err
	}
	built := false
	defer func() {
		if !built {
			st.Close()
		}
	}()
	m := newMetrics(cfg, o.Version)
	notifier := &alert.Notifier{DB: st.DB(), Insert: alert.StoreInserter(st), Config: table.Alerts, Process: processName(),
		Logger: log.With("component", "alerts")}
	quotas := &quota.Shared{DB: st.DB(), Horizon: cfg.RateLimitWait, Throttled: m.Throttled}
	dests, errs := buildConnectors(table, o.Env, log, notifier, quotas)
	if len(errs) > 0 {
		return nil, errors.Join(routingErrors(cfg.RoutesPath, errs)...)
	}
	logRateLimits(log, table, quotas)
	svc := buildServices(cfg, table, keys, st, dests, log)
	validate := func(typ string, body []byte) error { _, err := v.Resource(body, typ); return err }
	if rs.workers != nil {
		if err := buildWorkers(rs.workers, workerDeps{cfg: cfg, env: o.Env, table: table, keys: keys, store: st, dests: dests,
			svc: svc, notifier: notifier, metrics: m, validate: validate, log: log}); err != nil {
			return nil, err
		}
	}
	registerCollectors(m, table, st, dests, rs.queueNames, log)
	ready, err := migrate(ctx, cfg, st)
	if err != nil {
		return nil, err
	}
	oidc, err := auth.OIDCFromEnv(ctx, o.Env, nil)
	if err != nil {
		return nil, err
	}
	queueUI, err := st.QueueUI(log.With("component", "riverui"), "/admin/queue")
	if err != nil {
		return nil, fmt.Errorf("river ui: %w", err)
	}
	rejections := &webhook.Rejections{Log: svc.log, Count: m.WebhookRejected, Logger: log.With("component", "webhooks")}
	handler := buildAPI(apiDeps{cfg: cfg, version: o.Version, table: table, keys: keys, store: st, dests: dests, svc: svc,
		validator: v, oidc: oidc, queueUI: queueUI, rejections: rejections, metrics: m, ready: ready.ready, log: log})
	built = true
	return &Hub{cfg: cfg, log: log, Store: st, Transfers: svc.transfers, Deliveries: svc.deliveries, Routes: table,
		handler: handler, workers: cfg.RunsWorkers(), Log: svc.log, Admin: svc.admin, queueUI: queueUI, oidc: oidc,
		breakers: notifier, Rejections: rejections, conns: dests.conns, Metrics: m, certs: tls}, nil
}

// Handler is the HTTP API (worker-only processes serve health only).
func (h *Hub) Handler() http.Handler { return h.handler }

// chainEvery is how often staged transfer-log rows are chained.
const chainEvery = 200 * time.Millisecond

// heartbeat publishes this process's breaker states for the admin health
// view every 15 seconds (changes are published as they happen, too).
func (h *Hub) heartbeat(ctx context.Context) {
	t := time.NewTicker(15 * time.Second)
	defer t.Stop()
	for {
		h.breakers.Heartbeat(ctx, breakerStates(h.conns)())
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// breakerStates reads each destination's breaker in this process.
func breakerStates(conns map[string]connectors.Connector) func() map[string]string {
	return func() map[string]string {
		states := map[string]string{}
		for name, c := range conns {
			if b, ok := c.(interface{ BreakerState() string }); ok {
				states[name] = b.BreakerState()
			}
		}
		return states
	}
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
	var tlsConfig *tls.Config // nil: plain HTTP
	if h.certs != nil {
		tlsConfig = h.certs.Config()
	}
	srv := &http.Server{
		Handler:           h.handler,
		TLSConfig:         tlsConfig,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          httpErrorLog(h.log.With("component", "http")),
	}
	errc := make(chan error, 1)
	if h.certs != nil {
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
