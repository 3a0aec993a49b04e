package audit

import (
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/switchboard-health/switchboard/hub/transferlog"
)

type verifyJSON struct {
	OK      bool  `json:"ok"`
	Rows    int64 `json:"rows"`
	Pending int64 `json:"pending"`
	Head    struct {
		Seq  int64  `json:"seq"`
		Hash string `json:"hash"`
	} `json:"head"`
	Break *breakJSON `json:"break,omitempty"`
}

type breakJSON struct {
	Seq    int64  `json:"seq"`
	Reason string `json:"reason"`
}

// verify serves GET /audit/verify: the chain walked from its first row,
// optionally against a checkpoint (a row's seq and hash noted earlier).
func (h *Handlers) verify(c echo.Context) error {
	p, bad := parseParams(c.QueryParams(), []string{"checkpoint_seq", "checkpoint_hash"})
	if bad != nil {
		return fail(c, bad)
	}
	var cp *transferlog.Checkpoint
	used := []string{}
	seq, hash := p.get("checkpoint_seq"), p.get("checkpoint_hash")
	switch {
	case seq == "" && hash == "":
	case seq == "":
		return fail(c, badParam("checkpoint_seq", "is required with checkpoint_hash"))
	case hash == "":
		return fail(c, badParam("checkpoint_hash", "is required with checkpoint_seq"))
	default:
		n, err := strconv.ParseInt(seq, 10, 64)
		if err != nil || n < 1 {
			return fail(c, badParam("checkpoint_seq", "must be a row's seq (a whole number, 1 or more)"))
		}
		cp = &transferlog.Checkpoint{Seq: n, Hash: hash}
		used = append(used, "checkpoint")
	}
	ctx := c.Request().Context()
	rep, err := h.Log.Verify(ctx, cp)
	if err != nil {
		return h.internal(c, "verify", err)
	}
	if err := h.record(ctx, c, "verify", used, rep.Rows, map[string]any{"ok": rep.Break == nil}); err != nil {
		return h.internal(c, "verify", err)
	}
	out := verifyJSON{OK: rep.Break == nil, Rows: rep.Rows, Pending: rep.Pending}
	out.Head.Seq, out.Head.Hash = rep.Head.Seq, rep.Head.Hash
	if rep.Break != nil {
		out.Break = &breakJSON{Seq: rep.Break.Seq, Reason: rep.Break.Reason}
	}
	return c.JSON(http.StatusOK, out)
}
