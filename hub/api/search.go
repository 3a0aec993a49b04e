package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/switchboard-health/switchboard/connectors"
	"github.com/switchboard-health/switchboard/hub/outcome"
	"github.com/switchboard-health/switchboard/hub/seal"
	"github.com/switchboard-health/switchboard/hub/validation"
)

// Passthrough reads (DESIGN.md decision 3): GET /fhir/R4/{type}?... is
// answered by the destination the routing file's `reads:` names for the
// type, mapped to a FHIR searchset Bundle. Nothing read is cached, stored or
// logged (the access log records the route template, never the query).
//
// Paging: the vendor's own cursor and the original parameters are sealed
// with the hub's active key into the Bundle's next link
// (?_cursor=<opaque>), so the client cannot tamper with it, and a cursor
// that names a patient in a vendor's URL never travels or gets logged in
// clear. A cursor is good for cursorTTL and for its resource type only.
const (
	defaultReadTimeout = 15 * time.Second
	cursorTTL          = time.Hour
)

// searchCursor is the paging state sealed into a next link.
type searchCursor struct {
	Params  url.Values `json:"p"`
	Cursor  string     `json:"c"`
	Expires int64      `json:"e"` // Unix seconds
}

func (s *Server) search(c echo.Context) error {
	typ := c.Param("type")
	if !validation.IsResourceType(typ) {
		return fail(c, outcome.New(http.StatusNotFound, "not-supported", "", "not a FHIR R4 resource type"))
	}
	dest, ok := s.Routes.ReadFrom(typ)
	searcher := s.Searchers[dest]
	if !ok || searcher == nil {
		if s.Routes.Routed(typ) {
			return fail(c, outcome.New(http.StatusMethodNotAllowed, "not-supported", "", "searching this resource type is not routed"))
		}
		return fail(c, outcome.New(http.StatusNotFound, "not-supported", "", "this resource type is not routed"))
	}

	q := connectors.SearchQuery{ResourceType: typ, Params: c.QueryParams()}
	if tok := q.Params.Get("_cursor"); tok != "" {
		if len(q.Params) != 1 {
			return fail(c, outcome.New(http.StatusBadRequest, "invalid", "_cursor", "a _cursor page takes no other search parameters"))
		}
		cur, err := s.openCursor(typ, tok)
		if err != nil {
			return fail(c, outcome.New(http.StatusBadRequest, "invalid", "_cursor", "the paging cursor is invalid or expired; search again"))
		}
		q.Params, q.Cursor = cur.Params, cur.Cursor
	}

	timeout := s.ReadTimeout
	if timeout <= 0 {
		timeout = defaultReadTimeout
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), timeout)
	defer cancel()
	page, err := searcher.Search(ctx, q)
	if err != nil {
		return fail(c, readFailure(ctx, err))
	}

	base := s.origin(c.Request()) + FHIRBase + "/" + typ
	bundle := searchBundle{ResourceType: "Bundle", Type: "searchset"}
	self := base
	if len(q.Params) > 0 && q.Cursor == "" {
		self += "?" + q.Params.Encode()
	}
	bundle.Link = append(bundle.Link, bundleLink{Relation: "self", URL: self})
	if page.Next != "" {
		tok, err := s.sealCursor(typ, searchCursor{Params: q.Params, Cursor: page.Next, Expires: time.Now().Add(cursorTTL).Unix()})
		if err != nil {
			return fmt.Errorf("api: seal search cursor: %w", err)
		}
		bundle.Link = append(bundle.Link, bundleLink{Relation: "next", URL: base + "?_cursor=" + tok})
	}
	for _, r := range page.Resources {
		bundle.Entry = append(bundle.Entry, bundleEntry{Resource: r, Search: entrySearch{Mode: "match"}})
	}
	body, err := json.Marshal(bundle)
	if err != nil {
		return fmt.Errorf("api: encode searchset: %w", err)
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.Blob(http.StatusOK, "application/fhir+json", body)
}

type searchBundle struct {
	ResourceType string        `json:"resourceType"`
	Type         string        `json:"type"`
	Link         []bundleLink  `json:"link,omitempty"`
	Entry        []bundleEntry `json:"entry,omitempty"`
}

type bundleLink struct {
	Relation string `json:"relation"`
	URL      string `json:"url"`
}

type bundleEntry struct {
	Resource json.RawMessage `json:"resource"`
	Search   entrySearch     `json:"search"`
}

type entrySearch struct {
	Mode string `json:"mode"`
}

// readFailure translates a connector's failure into an OperationOutcome:
// 503 while the vendor's breaker is open, 504 on a timeout, 502 otherwise.
// Only the PHI-free code of the connector's error is shown.
func readFailure(ctx context.Context, err error) *outcome.Error {
	var ce *connectors.Error
	errors.As(err, &ce)
	switch {
	case ce != nil && ce.Class == connectors.BreakerOpen:
		oe := outcome.New(http.StatusServiceUnavailable, "transient", "", "the source vendor is unavailable (circuit breaker open)")
		return oe
	case errors.Is(ctx.Err(), context.DeadlineExceeded), ce != nil && ce.Code == "timeout":
		return outcome.New(http.StatusGatewayTimeout, "timeout", "", "the source vendor did not answer in time")
	case ce != nil:
		msg := "the source vendor failed (" + ce.Code
		if ce.Status != 0 {
			msg += ", status " + strconv.Itoa(ce.Status)
		}
		return outcome.New(http.StatusBadGateway, "exception", "", msg+")")
	}
	return outcome.New(http.StatusBadGateway, "exception", "", "the source vendor failed")
}

func cursorAAD(typ string) []byte { return []byte("search-cursor\x00" + typ) }

func (s *Server) sealCursor(typ string, cur searchCursor) (string, error) {
	plain, err := json.Marshal(cur)
	if err != nil {
		return "", err
	}
	env, err := s.Keys.Seal(plain, cursorAAD(typ))
	clear(plain)
	if err != nil {
		return "", err
	}
	b, err := json.Marshal(env)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func (s *Server) openCursor(typ, tok string) (searchCursor, error) {
	var cur searchCursor
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return cur, err
	}
	var env seal.Envelope
	if err := json.Unmarshal(b, &env); err != nil {
		return cur, err
	}
	plain, err := s.Keys.Open(env, cursorAAD(typ))
	if err != nil {
		return cur, err
	}
	if err := json.Unmarshal(plain, &cur); err != nil {
		return cur, err
	}
	if time.Now().Unix() > cur.Expires {
		return cur, errors.New("expired")
	}
	return cur, nil
}
