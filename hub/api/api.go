// Package api is the hub's HTTP surface: the unified FHIR R4 API under
// /fhir/R4, transfer status under /transfers, and health under /healthz and
// /readyz. Every error a client can cause is answered with a FHIR
// OperationOutcome that names the element at fault; nothing PHI-bearing is
// logged or echoed back.
package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/labstack/echo/v4"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/switchboard-health/switchboard/connectors"
	"github.com/switchboard-health/switchboard/hub/metrics"
	"github.com/switchboard-health/switchboard/hub/outcome"
	"github.com/switchboard-health/switchboard/hub/quota"
	"github.com/switchboard-health/switchboard/hub/route"
	"github.com/switchboard-health/switchboard/hub/seal"
	"github.com/switchboard-health/switchboard/hub/tracing"
	"github.com/switchboard-health/switchboard/hub/transfer"
	"github.com/switchboard-health/switchboard/hub/validation"
)

// Validator checks inbound FHIR JSON (package validation implements it).
type Validator interface {
	Resource(body []byte, wantType string) (*validation.Resource, error)
	Bundle(body []byte) (*validation.Bundle, error)
}

// Transfers accepts writes and reports their status (package transfer).
type Transfers interface {
	Accept(ctx context.Context, sub transfer.Submission) (transfer.Accepted, error)
	Status(ctx context.Context, id string) (*transfer.Status, error)
}

// Server holds the API's dependencies. Build it as a struct literal, then
// call Handler.
type Server struct {
	Validator    Validator
	Transfers    Transfers
	Routes       *route.Table
	MaxBodyBytes int64
	// MaxBundleEntries bounds the entries of one batch or transaction
	// Bundle (413 above it); 0 means DefaultMaxBundleEntries.
	MaxBundleEntries int
	Logger           *slog.Logger
	// Ready reports whether the process can take traffic (database reachable,
	// migrations current, keys loaded); nil means always ready.
	Ready func(ctx context.Context) error
	// Version is reported in the CapabilityStatement.
	Version string
	// Searchers answer passthrough reads, by destination name (the routing
	// file's `reads:` names which one serves a resource type). What each
	// applies comes from connectors.SearchDeclarer (handling.go); a
	// Searcher that declares nothing is sent no parameters.
	Searchers map[string]connectors.Searcher
	// Keys seal search paging cursors; needed when Searchers is set.
	Keys *seal.Keyring
	// ReadTimeout bounds one passthrough read (default 15s).
	ReadTimeout time.Duration
	// Webhooks receives POST /webhooks/{destination}; nil answers 404.
	Webhooks Webhooks
	// PublicURL is the scheme, host and path prefix clients and vendors
	// reach the hub at: the base of absolute links and of the URL HubSpot
	// signs (baseurl.go). "" leaves it to TrustedProxies, else links are
	// relative.
	PublicURL string
	// TrustedProxies are the proxies whose X-Forwarded-Proto and
	// X-Forwarded-Host are believed (by connecting address).
	TrustedProxies []netip.Prefix
	// CORSOrigins may call the API from a browser page (cors.go); none
	// turns CORS off.
	CORSOrigins []string
	// Auth authenticates every route that is not public or signed; nil
	// refuses them all.
	Auth Authenticator
	// Admin and Audit add their routes under /admin and /audit; Console is
	// the web console's files (under /console), Queue River UI (under
	// /admin/queue). Each is optional.
	Admin   Registrar
	Audit   Registrar
	Console http.Handler
	Queue   http.Handler
	// HealthOnly serves /healthz, /readyz and /metrics alone: a worker
	// process (--role worker) takes no traffic but its probes and scrapes.
	HealthOnly bool
	// Metrics records requests, accepts and webhooks; with Metrics set,
	// /metrics serves them (nil: neither).
	Metrics *metrics.Metrics
	// Inbound, when set, limits each authenticated caller's request rate
	// in this process: ClientLimit unless the client has its own (429
	// with Retry-After above it). Webhook sources are limited by the
	// webhook intake, after their signature is verified.
	Inbound     Admitter
	ClientLimit quota.Limit
	// DBTimeout bounds a request's wait on the database, so that a database
	// that is down is answered with 503 and Retry-After rather than a hung
	// request (default 5s).
	DBTimeout time.Duration
}

// Registrar adds a package's routes to a group.
type Registrar interface {
	Register(g *echo.Group)
}

// FHIRBase is the unified API's mount point.
const FHIRBase = "/fhir/R4"

// Handler returns the HTTP handler, a *Router.
func (s *Server) Handler() http.Handler {
	e := s.routes()
	return &Router{Handler: headAsGet(e), echo: e}
}

// Router is the API's handler: echo's router behind the HEAD handling.
// Routes lists what it serves (for the access test and the deploy checks,
// which must not miss a route).
type Router struct {
	http.Handler
	echo *echo.Echo
}

// Routes lists the routes the router serves.
func (r *Router) Routes() []*echo.Route { return r.echo.Routes() }

// routes builds the router and its middleware.
func (s *Server) routes() *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.errorHandler
	e.Use(s.requestID)
	e.Use(s.trace)
	e.Use(s.accessLog)
	e.Use(s.headers)
	if cors := s.cors(); cors != nil {
		e.Use(cors) // before access: a preflight carries no token
	}
	e.Use(s.access(s.policy()))

	e.GET("/healthz", func(c echo.Context) error { return c.JSON(http.StatusOK, map[string]string{"status": "ok"}) })
	e.GET("/readyz", s.readyz)
	if s.Metrics != nil {
		e.GET("/metrics", echo.WrapHandler(s.Metrics.Handler()))
	}
	if s.HealthOnly {
		return e
	}

	g := e.Group(FHIRBase)
	g.GET("/metadata", s.metadata)
	g.POST("", s.bundle)
	g.POST("/", s.bundle)
	g.POST("/:type", s.create)
	g.GET("/:type", s.search)
	g.PUT("/:type/:id", s.update)

	e.GET("/transfers/:id", s.status)
	e.POST("/webhooks/:source", s.webhook)

	e.GET("/auth/whoami", s.whoami)
	e.POST("/console/session", s.openSession)
	e.DELETE("/console/session", s.closeSession)
	if s.Console != nil {
		e.GET("/console", echo.WrapHandler(s.Console))
		e.GET("/console/*", echo.WrapHandler(s.Console))
	}
	if s.Admin != nil {
		s.Admin.Register(e.Group("/admin"))
	}
	if s.Queue != nil {
		// GET and HEAD only: River UI is for looking (queue.go), and any
		// other method is the router's 405 with Allow.
		q := readOnly(s.Queue)
		for _, p := range []string{"/admin/queue", "/admin/queue/*"} {
			e.GET(p, q)
			e.HEAD(p, q)
		}
	}
	if s.Audit != nil {
		s.Audit.Register(e.Group("/audit"))
	}
	return e
}

// fail writes an OperationOutcome with the error's status.
func fail(c echo.Context, err *outcome.Error) error {
	if err.Status == http.StatusServiceUnavailable {
		c.Response().Header().Set("Retry-After", "5")
	}
	return c.Blob(err.Status, "application/fhir+json", err.OperationOutcome())
}

// errorHandler turns echo's own errors (unknown route, wrong method) and
// anything unexpected into OperationOutcomes.
func (s *Server) errorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	var oe *outcome.Error
	var he *echo.HTTPError
	switch {
	case errors.As(err, &oe):
	case errors.As(err, &he):
		code := "not-supported"
		msg := http.StatusText(he.Code)
		switch he.Code {
		case http.StatusNotFound:
			code, msg = "not-found", "no such endpoint"
		case http.StatusMethodNotAllowed:
			msg = "this endpoint does not take this method"
			if allow := withHead(c.Response().Header().Get("Allow")); allow != "" {
				msg += "; it allows " + allow
			}
		}
		oe = outcome.New(he.Code, code, "", msg)
	default:
		s.Logger.Error("unhandled API error", "route", c.Path(), "error", err)
		oe = outcome.New(http.StatusInternalServerError, "exception", "", "internal error")
	}
	_ = fail(c, oe)
}

func (s *Server) accessLog(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		took, route, method, status := time.Since(start), c.Path(), methodLabel(c.Request().Method), c.Response().Status
		// The route template, never the URL: ids and query strings can be PHI.
		s.Logger.Info("http request", "method", method, "route", route,
			"status", status, "duration_ms", float64(took.Microseconds())/1000,
			"bytes_in", c.Request().ContentLength, "request_id", RequestID(c))
		s.Metrics.HTTP(route, method, status, took)
		if isWrite(method, route) {
			s.Metrics.Accept(status, took)
		}
		return nil
	}
}

// trace opens the request's server span: "accept" for a FHIR write,
// "METHOD route" otherwise, under the caller's traceparent if it sent one.
// Attributes are the route template and the status, never the URL.
func (s *Server) trace(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		route, method := c.Path(), methodLabel(req.Method)
		name := method + " " + route
		if isWrite(method, route) {
			name = "accept"
		}
		ctx := otel.GetTextMapPropagator().Extract(req.Context(), propagation.HeaderCarrier(req.Header))
		ctx, span := tracing.Tracer().Start(ctx, name, trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(attribute.String("http.request.method", method), attribute.String("http.route", route),
				attribute.StringSlice(requestIDAttr, []string{RequestID(c)})))
		defer span.End()
		c.SetRequest(req.WithContext(ctx))
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		status := c.Response().Status
		span.SetAttributes(attribute.Int("http.response.status_code", status))
		if status >= 500 {
			span.SetStatus(codes.Error, "")
		}
		return nil
	}
}

// methodLabel is the method as logs, metrics and spans record it: one of
// HTTP's registered methods, else "_OTHER" (OpenTelemetry's name for it).
// A method is any token a caller sends; as a label it would let anyone
// mint new Prometheus series, one per made-up method.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "_OTHER"
}

// requestIDAttr is the span attribute of the request's X-Request-Id, named
// as OpenTelemetry names request headers (a list of the header's values).
const requestIDAttr = "http.request.header.x-request-id"

// isWrite tells the FHIR writes (create, update, Bundle) from other routes.
func isWrite(method, route string) bool {
	switch {
	case method == http.MethodPost:
		return route == FHIRBase || route == FHIRBase+"/" || route == FHIRBase+"/:type"
	case method == http.MethodPut:
		return route == FHIRBase+"/:type/:id"
	}
	return false
}

// dbTimeout is how long a request may wait on the database.
func (s *Server) dbTimeout() time.Duration {
	if s.DBTimeout > 0 {
		return s.DBTimeout
	}
	return 5 * time.Second
}

// DefaultMaxBundleEntries is MaxBundleEntries when unset (the same as
// config.DefaultMaxBundleEntries).
const DefaultMaxBundleEntries = 5000

// bundleLimit is MaxBundleEntries, DefaultMaxBundleEntries when unset.
func (s *Server) bundleLimit() int {
	if s.MaxBundleEntries > 0 {
		return s.MaxBundleEntries
	}
	return DefaultMaxBundleEntries
}

// tooManyEntries refuses a Bundle over the entry limit: once, with what to
// do about it, rather than a transaction that holds the database for long.
func tooManyEntries(n, limit int) *outcome.Error {
	return outcome.New(http.StatusRequestEntityTooLarge, "too-costly", "Bundle.entry",
		fmt.Sprintf("the Bundle has %d entries; this hub accepts at most %d per Bundle (SWITCHBOARD_MAX_BUNDLE_ENTRIES): split it into smaller Bundles", n, limit))
}

func asOutcome(err error) *outcome.Error {
	var oe *outcome.Error
	if errors.As(err, &oe) {
		return oe
	}
	return outcome.New(http.StatusBadRequest, "invalid", "", "invalid resource")
}

func (s *Server) readyz(c echo.Context) error {
	if s.Ready != nil {
		ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
		defer cancel()
		if err := s.Ready(ctx); err != nil {
			return c.JSON(http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "reason": err.Error()})
		}
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ready"})
}
