package api

import (
	"github.com/labstack/echo/v4"
)

// hsts is the Strict-Transport-Security value sent on answers served over
// TLS: a year, this host only. includeSubDomains and preload are the
// domain owner's call, not the hub's; a proxy that terminates TLS in front
// of the hub sets its own.
const hsts = "max-age=31536000"

// headers sets what every answer carries, before any handler or the error
// handler writes: nosniff, so that no JSON (an OperationOutcome quoting a
// search term, say) is ever sniffed into HTML; no-store, so that no cache
// keeps an answer about a patient's transfer or the audit log (the
// console's static files set their own Cache-Control over it); HSTS when
// the hub itself serves TLS.
func (s *Server) headers(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "no-store")
		if c.Request().TLS != nil {
			h.Set("Strict-Transport-Security", hsts)
		}
		return next(c)
	}
}
