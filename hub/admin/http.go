package admin

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/switchboard-health/switchboard/hub/outcome"
)

// Handlers serves the admin API (mounted at /admin behind admin auth).
type Handlers struct {
	Service *Service
	// Actor names the caller for the transfer log.
	Actor func(echo.Context) string
}

// Register adds the routes to g.
func (h *Handlers) Register(g *echo.Group) {
	g.GET("/failures", h.list)
	g.GET("/failures/:id", h.show)
	g.POST("/failures/:id/replay", h.replay)
	g.POST("/failures/:id/discard", h.discard)
	g.POST("/replay", h.replayMany)
	g.POST("/discard", h.discardMany)
	g.POST("/destinations/:name/pause", h.pause)
	g.POST("/destinations/:name/resume", h.resume)
	g.GET("/health", h.health)
}

// failErr maps the service's errors to answers; anything else is a 500
// (its text is not echoed: it could name internals).
func failErr(err error) error {
	switch {
	case errors.Is(err, ErrNotFound):
		return outcome.New(http.StatusNotFound, "not-found", "", "no such delivery")
	case errors.Is(err, ErrNotFailed):
		return outcome.New(http.StatusConflict, "conflict", "", "the delivery is not a failed sync (replayed or discarded already?)")
	case errors.Is(err, ErrGone):
		return outcome.New(http.StatusGone, "not-found", "", ErrGone.Error()[len("admin: "):])
	case errors.Is(err, ErrQueueNotStarted):
		return outcome.New(http.StatusConflict, "transient", "name", "no worker has started this destination's queue yet; retry once one has")
	case errors.Is(err, ErrUnknownDestination):
		return outcome.New(http.StatusNotFound, "not-found", "name", "no such destination")
	}
	return err
}

func filterFrom(c echo.Context) (Filter, error) {
	f := Filter{Destination: c.QueryParam("destination"), ErrorClass: c.QueryParam("error_class"),
		ResourceType: c.QueryParam("resource_type")}
	for name, t := range map[string]*time.Time{"since": &f.Since, "until": &f.Until} {
		if v := c.QueryParam(name); v != "" {
			at, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return f, outcome.New(http.StatusBadRequest, "value", name, "want an RFC 3339 time such as 2026-11-23T10:00:00Z")
			}
			*t = at
		}
	}
	return f, nil
}

func (h *Handlers) list(c echo.Context) error {
	f, err := filterFrom(c)
	if err != nil {
		return err
	}
	limit := 50
	if v := c.QueryParam("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > 500 {
			return outcome.New(http.StatusBadRequest, "value", "limit", "want a whole number from 1 to 500")
		}
	}
	items, next, err := h.Service.Failures(c.Request().Context(), f, c.QueryParam("cursor"), limit)
	if err != nil {
		if errors.Is(err, ErrBadCursor) {
			return outcome.New(http.StatusBadRequest, "value", "cursor", "invalid cursor")
		}
		return err
	}
	if items == nil {
		items = []Failure{}
	}
	return c.JSON(http.StatusOK, map[string]any{"items": items, "next": next})
}

func key(c echo.Context) (Key, error) {
	k, err := ParseKey(c.Param("id"))
	if err != nil {
		return k, outcome.New(http.StatusBadRequest, "value", "id", err.Error())
	}
	return k, nil
}

func (h *Handlers) show(c echo.Context) error {
	k, err := key(c)
	if err != nil {
		return err
	}
	d, err := h.Service.Failure(c.Request().Context(), k)
	if err != nil {
		return failErr(err)
	}
	return c.JSON(http.StatusOK, d)
}

func (h *Handlers) replay(c echo.Context) error {
	k, err := key(c)
	if err != nil {
		return err
	}
	if dry, _ := strconv.ParseBool(c.QueryParam("dry_run")); dry {
		p, err := h.Service.DryRun(c.Request().Context(), k)
		if err != nil {
			return failErr(err)
		}
		return c.JSON(http.StatusOK, p)
	}
	r, err := h.Service.Replay(c.Request().Context(), h.Actor(c), k)
	if err != nil {
		return failErr(err)
	}
	return c.JSON(http.StatusOK, r)
}

func (h *Handlers) discard(c echo.Context) error {
	k, err := key(c)
	if err != nil {
		return err
	}
	if err := h.Service.Discard(c.Request().Context(), h.Actor(c), k); err != nil {
		return failErr(err)
	}
	return c.JSON(http.StatusOK, map[string]int{"discarded": 1})
}

// bulkBody reads a bulk request: {"filter": {...}} or {"ids": [...]}, and
// "dry_run". Filter times are RFC 3339.
func bulkBody(c echo.Context) (Bulk, error) {
	var b struct {
		Filter *struct {
			Destination  string `json:"destination"`
			ErrorClass   string `json:"error_class"`
			ResourceType string `json:"resource_type"`
			Since        string `json:"since"`
			Until        string `json:"until"`
		} `json:"filter"`
		IDs    []string `json:"ids"`
		DryRun bool     `json:"dry_run"`
	}
	body, err := io.ReadAll(io.LimitReader(c.Request().Body, 1<<20))
	if err != nil {
		return Bulk{}, outcome.New(http.StatusBadRequest, "structure", "", "could not read the request body")
	}
	if err := json.Unmarshal(body, &b); err != nil {
		return Bulk{}, outcome.New(http.StatusBadRequest, "structure", "", "the body must be a JSON object with filter or ids")
	}
	out := Bulk{IDs: b.IDs, DryRun: b.DryRun}
	if (b.Filter == nil) == (len(b.IDs) == 0) {
		return Bulk{}, outcome.New(http.StatusBadRequest, "required", "filter", "give either ids or a filter (an empty filter {} matches every failed sync)")
	}
	if f := b.Filter; f != nil {
		out.Filter = &Filter{Destination: f.Destination, ErrorClass: f.ErrorClass, ResourceType: f.ResourceType}
		for name, v := range map[string]string{"since": f.Since, "until": f.Until} {
			if v == "" {
				continue
			}
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return Bulk{}, outcome.New(http.StatusBadRequest, "value", "filter."+name, "want an RFC 3339 time")
			}
			if name == "since" {
				out.Filter.Since = t
			} else {
				out.Filter.Until = t
			}
		}
	}
	for i, id := range b.IDs {
		if _, err := ParseKey(id); err != nil {
			return Bulk{}, outcome.New(http.StatusBadRequest, "value", "ids["+strconv.Itoa(i)+"]", err.Error())
		}
	}
	return out, nil
}

func (h *Handlers) replayMany(c echo.Context) error {
	b, err := bulkBody(c)
	if err != nil {
		return err
	}
	r, err := h.Service.ReplayMany(c.Request().Context(), h.Actor(c), b)
	if err != nil {
		return failErr(err)
	}
	return c.JSON(http.StatusOK, r)
}

func (h *Handlers) discardMany(c echo.Context) error {
	b, err := bulkBody(c)
	if err != nil {
		return err
	}
	r, err := h.Service.DiscardMany(c.Request().Context(), h.Actor(c), b)
	if err != nil {
		return failErr(err)
	}
	return c.JSON(http.StatusOK, r)
}

func (h *Handlers) pause(c echo.Context) error  { return h.setPause(c, true) }
func (h *Handlers) resume(c echo.Context) error { return h.setPause(c, false) }

func (h *Handlers) setPause(c echo.Context, pause bool) error {
	name := c.Param("name")
	do := h.Service.Resume
	if pause {
		do = h.Service.Pause
	}
	if err := do(c.Request().Context(), h.Actor(c), name); err != nil {
		return failErr(err)
	}
	return c.JSON(http.StatusOK, map[string]any{"destination": name, "paused": pause})
}

func (h *Handlers) health(c echo.Context) error {
	hl, err := h.Service.Health(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, hl)
}
