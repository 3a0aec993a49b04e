package api

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/switchboard-health/switchboard/hub/outcome"
)

// readOnly serves River UI for looking only. Its own buttons (retry,
// cancel, delete a job, pause a queue) would act on deliveries without a
// transfer-log row, the admin's name or the idempotency-key rules of a
// replay; those actions go through the admin API instead.
func readOnly(h http.Handler) echo.HandlerFunc {
	return func(c echo.Context) error {
		if m := c.Request().Method; m != http.MethodGet && m != http.MethodHead {
			return outcome.New(http.StatusMethodNotAllowed, "not-supported", "",
				"River UI is read-only here: replay, discard and pause through /admin (recorded in the transfer log)")
		}
		h.ServeHTTP(c.Response(), c.Request())
		return nil
	}
}
