package audit

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/switchboard-health/switchboard/hub/transferlog"
)

// flushEvery is how many rows an export writes between flushes to the
// client: often enough that a download shows progress, seldom enough that
// flushing costs nothing.
const flushEvery = 500

// export serves GET /audit/export: every matching row, streamed as NDJSON
// (one JSON row a line) or CSV (a header line, then the JSON row's fields
// as columns, detail as a JSON string), in constant memory however large
// the log.
func (h *Handlers) export(c echo.Context) error {
	p, bad := parseParams(c.QueryParams(), filterParams, []string{"cursor", "format"})
	if bad != nil {
		return fail(c, bad)
	}
	f, used, bad := p.filter(h)
	if bad != nil {
		return fail(c, bad)
	}
	format := p.get("format")
	if format == "" {
		format = "ndjson"
	}
	var contentType string
	switch format {
	case "ndjson":
		contentType = "application/x-ndjson"
	case "csv":
		contentType = "text/csv; charset=utf-8"
	default:
		return fail(c, badParam("format", "must be ndjson or csv"))
	}

	res := c.Response()
	res.Header().Set(echo.HeaderContentType, contentType)
	res.Header().Set(echo.HeaderContentDisposition, fmt.Sprintf(`attachment; filename="switchboard-audit-%s.%s"`,
		time.Now().UTC().Format("20060102T150405Z"), format))
	res.Header().Set("Cache-Control", "no-store")
	res.WriteHeader(http.StatusOK)

	w := bufio.NewWriterSize(res, 32<<10)
	write, err := rowWriter(format, w)
	var rows int64
	if err == nil {
		ctx := c.Request().Context()
		err = h.Log.Each(ctx, f, func(r transferlog.Row) error {
			if err := write(r); err != nil {
				return err
			}
			rows++
			if rows%flushEvery == 0 {
				return flush(w, res)
			}
			return nil
		})
	}
	if err == nil {
		err = flush(w, res)
	}
	// The status is sent: a failure can only cut the download short. The
	// read is logged either way, with the rows that went out.
	var extra map[string]any
	if err != nil {
		extra = map[string]any{"incomplete": true}
		if !errors.Is(err, context.Canceled) {
			h.logger().ErrorContext(c.Request().Context(), "audit: export cut short", "rows", rows, "error", err)
		}
	}
	if rerr := h.record(context.WithoutCancel(c.Request().Context()), c, "export", used, rows, extra); rerr != nil {
		h.logger().ErrorContext(c.Request().Context(), "audit: could not log an export", "error", rerr)
	}
	return nil
}

// rowWriter returns the function that writes one row in format.
func rowWriter(format string, w *bufio.Writer) (func(transferlog.Row) error, error) {
	if format == "csv" {
		cw := csv.NewWriter(w)
		if err := cw.Write(csvHeader); err != nil {
			return nil, err
		}
		rec := make([]string, 0, len(csvHeader))
		return func(r transferlog.Row) error {
			var err error
			if rec, err = csvRecord(r, rec); err != nil {
				return err
			}
			if err := cw.Write(rec); err != nil {
				return err
			}
			// csv.Writer buffers in front of w; hand each row on so that
			// flushing w flushes everything.
			cw.Flush()
			return cw.Error()
		}, nil
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return func(r transferlog.Row) error { return enc.Encode(toJSON(r)) }, nil
}

// flush sends what is buffered to the client.
func flush(w *bufio.Writer, res *echo.Response) error {
	if err := w.Flush(); err != nil {
		return err
	}
	if err := http.NewResponseController(res.Writer).Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	return nil
}
