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

// Passthrough reads (docs/decisions/0003-fhir-at-the-boundary.md): GET
// /fhir/R4/{type}?... is answered by the destination the routing file's
// `reads:` names for the type, mapped to a FHIR searchset Bundle. Nothing read
// is cached, stored or logged (the access log records the route template,
// never the query).
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

// searchCursor is the paging state sealed into a next link. It keeps the
// first page's truth: the parameters sent to the connector (after a lenient
// search left out what the source does not apply) and those the first page's
// self link stated, so a later page neither sends a parameter again nor
// claims one the first page did not.
type searchCursor struct {
	Params  url.Values `json:"p"`
	Self    url.Values `json:"s,omitempty"`
	Cursor  string     `json:"c"`
	Expires int64      `json:"e"` // Unix seconds
}

// search answers a passthrough read. It never claims a filter the source
// did not apply (see handling.go): under Prefer: handling=strict (the
// default) such a parameter is a 400 that names it; under handling=lenient
// the self link leaves it out.
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
	lenient, asked := handling(c.Request().Header)
	if asked {
		c.Response().Header().Set("Preference-Applied", preferenceApplied(lenient))
	}

	timeout := s.ReadTimeout
	if timeout <= 0 {
		timeout = defaultReadTimeout
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), timeout)
	defer cancel()

	q := connectors.SearchQuery{ResourceType: typ, Params: c.QueryParams()}
	var self url.Values // what the self link states was applied
	if toks, paging := q.Params["_cursor"]; paging {
		rest := withoutParam(q.Params, "_cursor")
		cur, err := s.openCursor(typ, toks[0])
		if len(toks) != 1 || err != nil {
			return fail(c, outcome.New(http.StatusBadRequest, "invalid", "_cursor", "the paging cursor is invalid or expired; search again"))
		}
		// A page's own self link repeats the parameters it states.
		if len(rest) > 0 && !sameValues(rest, cur.Self) {
			return fail(c, outcome.New(http.StatusBadRequest, "invalid", "_cursor", "a _cursor page takes no other search parameters"))
		}
		q.Params, q.Cursor, self = cur.Params, cur.Cursor, cur.Self
	} else {
		if oe := checkCount(q.Params); oe != nil {
			return fail(c, oe)
		}
		if !statesApplied(searcher) {
			// The connector applies exactly what it declares: send it
			// nothing else.
			undeclared, err := connectors.Unapplied(ctx, searcher, q, connectors.SearchPage{})
			if err != nil {
				return fail(c, readFailure(ctx, c, err))
			}
			if len(undeclared) > 0 && !lenient {
				return fail(c, notApplied(typ, undeclared))
			}
			q.Params = withoutParam(q.Params, undeclared...)
		}
	}

	page, err := searcher.Search(ctx, q)
	if err != nil {
		return fail(c, readFailure(ctx, c, err))
	}
	if q.Cursor == "" {
		unapplied, err := connectors.Unapplied(ctx, searcher, q, page)
		if err != nil {
			return fail(c, readFailure(ctx, c, err))
		}
		if len(unapplied) > 0 && !lenient {
			return fail(c, notApplied(typ, unapplied))
		}
		self = withoutParam(q.Params, append(unapplied, connectors.CountParam)...)
		// _count is stated only as the source stated it: it may have
		// lowered it, and a connector that does not say so is not quoted.
		if n := page.Applied[connectors.CountParam]; len(n) > 0 && statesApplied(searcher) {
			self[connectors.CountParam] = n
		}
	}

	base := s.origin(c.Request()) + FHIRBase + "/" + typ
	bundle := searchBundle{ResourceType: "Bundle", Type: "searchset"}
	selfQuery := cloneValues(self)
	if q.Cursor != "" {
		selfQuery.Set("_cursor", c.QueryParam("_cursor"))
	}
	selfURL := base
	if len(selfQuery) > 0 {
		selfURL += "?" + selfQuery.Encode()
	}
	bundle.Link = append(bundle.Link, bundleLink{Relation: "self", URL: selfURL})
	if page.Next != "" {
		tok, err := s.sealCursor(typ, searchCursor{Params: q.Params, Self: self, Cursor: page.Next, Expires: time.Now().Add(cursorTTL).Unix()})
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
// 400 naming the parameter when the client asked wrongly (BadSearch), 503
// while the vendor's breaker is open, 429 with Retry-After while the
// vendor's shared rate limit has no place free soon, 504 on a timeout, 502
// otherwise, and 502 naming the cause when the source's answer is over the
// answer limit: the client can ask for a smaller _count.
// Only the PHI-free code of the connector's error is shown, and a bad
// search's reason, which connectors write for the client.
func readFailure(ctx context.Context, c echo.Context, err error) *outcome.Error {
	var ce *connectors.Error
	errors.As(err, &ce)
	var bad *connectors.SearchParamError
	switch {
	case errors.As(err, &bad):
		return outcome.New(http.StatusBadRequest, "invalid", paramExpression(bad.Param), bad.Reason)
	case ce != nil && ce.Class == connectors.Throttled:
		setRetryAfter(c, ce.RetryAfter)
		return outcome.New(http.StatusTooManyRequests, "throttled", "", "the source vendor's rate limit is reached; retry after the number of seconds in Retry-After")
	case ce != nil && ce.Class == connectors.BreakerOpen:
		oe := outcome.New(http.StatusServiceUnavailable, "transient", "", "the source vendor is unavailable (circuit breaker open)")
		return oe
	case errors.Is(err, connectors.ErrResponseTooLarge):
		return outcome.New(http.StatusBadGateway, "too-costly", "", fmt.Sprintf(
			"the source's answer is larger than %s; ask for a smaller _count", connectors.FormatBytes(connectors.ResponseLimit(err))))
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
	// Strict: one spelling per cursor (no ignored trailing bits).
	b, err := base64.RawURLEncoding.Strict().DecodeString(tok)
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
