// Package audit serves the transfer log to auditors (role auditor, checked
// by the API layer before these handlers run): GET /log to page through
// rows, GET /export to download them all as NDJSON or CSV in constant
// memory, GET /verify to check the hash chain, and POST /digest to find the
// deliveries that carried a document the auditor holds.
//
// Rows hold no PHI by construction (see transferlog); a subject filter is
// HMAC'd here, so a patient reference reaches neither the database query
// nor the log of the read. Every read is itself logged: an audit_read row
// names the caller, the route, the names (never the values) of the filters
// used and the number of rows returned.
package audit

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/switchboard-health/switchboard/hub/outcome"
	"github.com/switchboard-health/switchboard/hub/seal"
	"github.com/switchboard-health/switchboard/hub/transferlog"
)

// Handlers serves the audit API.
type Handlers struct {
	Log *transferlog.Log
	// MAC is the hub's key, for subject filters and document digests; the
	// same key the log was written with.
	MAC seal.MAC
	// Actor names the authenticated caller for audit_read rows (a client
	// id, never a person's name).
	Actor  func(echo.Context) string
	Logger *slog.Logger
}

// Register adds the routes to g, a group mounted at /audit.
func (h *Handlers) Register(g *echo.Group) {
	g.GET("/log", h.list)
	g.GET("/export", h.export)
	g.GET("/verify", h.verify)
	g.POST("/digest", h.digest)
}

// record appends the audit_read row of a read.
func (h *Handlers) record(ctx context.Context, c echo.Context, route string, filters []string, rows int64, extra map[string]any) error {
	if filters == nil {
		filters = []string{}
	}
	detail := map[string]any{"route": route, "filters": filters, "rows": rows}
	for k, v := range extra {
		detail[k] = v
	}
	actor := "unknown"
	if h.Actor != nil {
		actor = h.Actor(c)
	}
	return h.Log.Append(ctx, transferlog.Row{Event: transferlog.EventAuditRead, Actor: actor, Detail: detail})
}

// fail writes err as a FHIR OperationOutcome.
func fail(c echo.Context, err *outcome.Error) error {
	return c.Blob(err.Status, "application/fhir+json", err.OperationOutcome())
}

// internal logs err (which holds no PHI: the log's errors name rows and
// statements, never values) and answers 500.
func (h *Handlers) internal(c echo.Context, route string, err error) error {
	h.logger().ErrorContext(c.Request().Context(), "audit: request failed", "route", route, "error", err)
	return fail(c, outcome.New(http.StatusInternalServerError, "exception", "", "the transfer log could not be read; the error is in the hub's log"))
}

func (h *Handlers) logger() *slog.Logger {
	if h.Logger != nil {
		return h.Logger
	}
	return slog.Default()
}
