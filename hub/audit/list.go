package audit

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

// list serves GET /audit/log: one page of rows in ascending seq, and the
// cursor of the next page ("" on the last).
func (h *Handlers) list(c echo.Context) error {
	p, bad := parseParams(c.QueryParams(), filterParams, []string{"cursor", "limit"})
	if bad != nil {
		return fail(c, bad)
	}
	f, used, bad := p.filter(h)
	if bad != nil {
		return fail(c, bad)
	}
	limit, bad := p.limit()
	if bad != nil {
		return fail(c, bad)
	}
	ctx := c.Request().Context()
	// One row more than asked says whether there is a next page, so the
	// last page has no cursor leading to an empty one.
	rows, err := h.Log.Query(ctx, f, limit+1)
	if err != nil {
		return h.internal(c, "log", err)
	}
	next := ""
	if len(rows) > limit {
		rows = rows[:limit]
		next = encodeCursor(rows[limit-1].Seq)
	}
	// A read that cannot be logged is not served.
	if err := h.record(ctx, c, "log", used, int64(len(rows)), nil); err != nil {
		return h.internal(c, "log", err)
	}
	return c.JSON(http.StatusOK, struct {
		Items []rowJSON `json:"items"`
		Next  string    `json:"next"`
	}{toJSONs(rows), next})
}
