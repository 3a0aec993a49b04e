package audit

import (
	"io"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/switchboard-health/switchboard/hub/outcome"
	"github.com/switchboard-health/switchboard/hub/transferlog"
)

// maxDocument bounds the document POST /audit/digest reads.
const maxDocument = 1 << 20

// maxMatches bounds the rows one digest lookup returns.
const maxMatches = 1000

// digest serves POST /audit/digest: the keyed digest of the posted
// document (a FHIR resource an auditor holds) and the delivery rows that
// sent the same content. The document is read, hashed and dropped; it is
// never stored or logged.
func (h *Handlers) digest(c echo.Context) error {
	if _, bad := parseParams(c.QueryParams()); bad != nil {
		return fail(c, bad)
	}
	body, err := io.ReadAll(io.LimitReader(c.Request().Body, maxDocument+1))
	if err != nil {
		return fail(c, outcome.New(http.StatusBadRequest, "structure", "", "the document could not be read"))
	}
	if len(body) > maxDocument {
		return fail(c, outcome.New(http.StatusRequestEntityTooLarge, "too-long", "", "the document is larger than 1 MiB"))
	}
	d, err := transferlog.Digest(h.MAC, body)
	if err != nil {
		return fail(c, outcome.New(http.StatusBadRequest, "structure", "", "the body is not a JSON document"))
	}
	ctx := c.Request().Context()
	rows, err := h.Log.Query(ctx, transferlog.Filter{PayloadDigest: d}, maxMatches)
	if err != nil {
		return h.internal(c, "digest", err)
	}
	if err := h.record(ctx, c, "digest", []string{"payload_digest"}, int64(len(rows)), nil); err != nil {
		return h.internal(c, "digest", err)
	}
	return c.JSON(http.StatusOK, struct {
		Digest  string    `json:"digest"`
		Matches []rowJSON `json:"matches"`
	}{d, toJSONs(rows)})
}
