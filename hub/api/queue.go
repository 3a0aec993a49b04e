package api

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/switchboard-health/switchboard/hub/outcome"
)

// queuePolicy is River UI's Content-Security-Policy: scripts, API calls
// and fonts from the hub only, as for the console; data: images (its
// stylesheet draws form controls with inline SVG); and inline styles, which
// its components set as style attributes (without them Chromium blocks a
// dozen of them on the jobs page alone). Scripts stay 'self' only: no
// inline script, no eval.
// frame-ancestors 'none' (and X-Frame-Options for older browsers) stops
// click-jacking. TestRiverUIUnderItsContentSecurityPolicy loads it in
// Chromium under this policy.
const queuePolicy = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

// readOnly serves River UI for looking only. Its own buttons (retry,
// cancel, delete a job, pause a queue) would act on deliveries without a
// transfer-log row, the admin's name or the idempotency-key rules of a
// replay; those actions go through the admin API instead.
//
// Its pages get the console's protections: a Content-Security-Policy and
// frame denial.
func readOnly(h http.Handler) echo.HandlerFunc {
	return func(c echo.Context) error {
		hdr := c.Response().Header()
		hdr.Set("Content-Security-Policy", queuePolicy)
		hdr.Set("X-Frame-Options", "DENY")
		hdr.Set("Referrer-Policy", "no-referrer")
		if m := c.Request().Method; m != http.MethodGet && m != http.MethodHead {
			hdr.Set("Allow", "GET, HEAD")
			return outcome.New(http.StatusMethodNotAllowed, "not-supported", "",
				"River UI is read-only here: replay, discard and pause through /admin (recorded in the transfer log)")
		}
		h.ServeHTTP(c.Response(), c.Request())
		return nil
	}
}
