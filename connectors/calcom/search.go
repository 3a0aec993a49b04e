package calcom

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-health/switchboard/connectors"
	mapping "github.com/switchboard-health/switchboard/mappings/calcom"
)

// Page sizes of an Appointment search (FHIR _count, Cal.com take).
const (
	defaultCount = 20
	maxCount     = 100 // Cal.com's default and, in practice, its cap
)

// searchParams are the search parameters the connector translates, per
// type (connectors.SearchDeclarer). It applies every one it is given or
// fails with connectors.BadSearch: the hub sends it no others.
var searchParams = map[string][]connectors.SearchParam{
	"Slot": {{Name: "start", Type: "date"}, {Name: "end", Type: "date"}, {Name: "service-type", Type: "token"}},
	"Appointment": {{Name: "identifier", Type: "token"}, {Name: "patient.email", Type: "string"},
		{Name: "attendee-email", Type: "string"}, {Name: "date", Type: "date"}},
}

// SearchParams implements connectors.SearchDeclarer.
func (c *Connector) SearchParams(_ context.Context, resourceType string) ([]connectors.SearchParam, error) {
	return slices.Clone(searchParams[resourceType]), nil
}

// StatesApplied implements connectors.SearchDeclarer: what the connector
// applies is what it declares.
func (c *Connector) StatesApplied() bool { return false }

// Search implements connectors.Searcher:
//
//	Slot         start, end (FHIR dates, prefixes ge/gt/le/lt; a second start=lt… works as end),
//	             service-type (https://cal.com/event-type|123 or 123, else event_type_id)
//	             -> GET /v2/slots?start&end&eventTypeId&format=range, free Slots
//	Appointment  identifier (the booking uid, [https://switchboard.health/id/calcom-booking|]uid), alone
//	             -> GET /v2/bookings/{uid}: one Appointment, none when Cal.com has no such booking;
//	             patient.email (or attendee-email) and/or date=ge|gt{instant}&date=lt|le{instant}
//	             (the start's window) -> GET /v2/bookings?attendeeEmail&afterStart&beforeEnd&take&skip,
//	             every status (cancelled included: no status filter), _count per page
//	             (default 20, at most 100)
//
// Every parameter given is applied, or the search fails with
// connectors.BadSearch naming it: one that repeats where one value is
// expected, a combination Cal.com cannot answer whole (identifier with a
// filter), a value it cannot translate.
//
// Cal.com filters a window by start (afterStart) and by end (beforeEnd), not
// by start on both sides: date=lt… becomes beforeEnd, so a booking starting
// inside the window and ending after it is left out. A caller that needs
// every start before a time asks a later bound and filters (package
// reconcile's drift repair does). Appointments carry meta.lastUpdated from
// the booking's updatedAt.
//
// The cursor is Cal.com's take and skip, encoded.
func (c *Connector) Search(ctx context.Context, q connectors.SearchQuery) (connectors.SearchPage, error) {
	declared, ok := searchParams[q.ResourceType]
	if !ok {
		return connectors.SearchPage{}, connectors.PermanentError("unsupported_resource",
			fmt.Errorf("calcom searches Slot and Appointment, not %s", q.ResourceType))
	}
	for name := range q.Params {
		if name != connectors.CountParam && !connectors.Declared(declared, name) {
			return connectors.SearchPage{}, connectors.BadSearch(name, "Cal.com does not search "+q.ResourceType+" by this parameter")
		}
	}
	switch q.ResourceType {
	case "Slot":
		return c.searchSlots(ctx, q.Params)
	case "Appointment":
		for _, p := range []string{"identifier", "patient.email", "attendee-email"} {
			if len(q.Params[p]) > 1 {
				return connectors.SearchPage{}, connectors.BadSearch(p, "Cal.com takes one value of this parameter")
			}
		}
		if _, ok := q.Params["identifier"]; ok {
			for _, other := range []string{"patient.email", "attendee-email", "date"} {
				if _, with := q.Params[other]; with {
					return connectors.SearchPage{}, connectors.BadSearch(other, "Cal.com finds a booking by identifier alone, not with this parameter")
				}
			}
			return c.searchBooking(ctx, q.Params.Get("identifier"))
		}
		filter := url.Values{}
		for _, p := range []string{"patient.email", "attendee-email"} {
			vals, ok := q.Params[p]
			switch {
			case !ok:
			case filter.Has("attendeeEmail"):
				return connectors.SearchPage{}, connectors.BadSearch(p, "give patient.email or attendee-email, not both")
			case strings.TrimSpace(vals[0]) == "":
				return connectors.SearchPage{}, connectors.BadSearch(p, "the email is empty")
			default:
				filter.Set("attendeeEmail", vals[0])
			}
		}
		if len(q.Params["date"]) > 0 {
			window, err := dateWindow(q.Params["date"])
			if err != nil {
				return connectors.SearchPage{}, err
			}
			for k, v := range window {
				filter[k] = v
			}
		}
		if len(filter) == 0 {
			return connectors.SearchPage{}, connectors.BadSearch("", "an Appointment search at Cal.com needs identifier, patient.email or a date window")
		}
		return c.searchBookings(ctx, filter, q)
	}
	return connectors.SearchPage{}, nil // unreachable: searchParams names the types
}

func (c *Connector) searchSlots(ctx context.Context, params url.Values) (connectors.SearchPage, error) {
	var start, end string
	for _, v := range params["start"] {
		bound := &start
		if prefix, _ := splitPrefix(v); prefix == "lt" || prefix == "le" {
			bound = &end
		}
		if *bound != "" {
			return connectors.SearchPage{}, connectors.BadSearch("start", "Cal.com takes one lower and one upper bound of the window")
		}
		_, *bound = splitPrefix(plusSign(v))
	}
	for _, v := range params["end"] {
		if end != "" {
			return connectors.SearchPage{}, connectors.BadSearch("end", "Cal.com takes one upper bound of the window")
		}
		_, end = splitPrefix(plusSign(v))
	}
	switch {
	case start != "" && !isDate(start):
		return connectors.SearchPage{}, connectors.BadSearch("start", "start must be a FHIR instant or date")
	case end != "" && !isDate(end):
		return connectors.SearchPage{}, connectors.BadSearch("end", "end must be a FHIR instant or date")
	case start == "":
		return connectors.SearchPage{}, connectors.BadSearch("start", "a Slot search at Cal.com needs start (and end, or start=lt…)")
	case end == "":
		return connectors.SearchPage{}, connectors.BadSearch("end", "a Slot search at Cal.com needs end (or start=lt…)")
	case len(params["service-type"]) > 1:
		return connectors.SearchPage{}, connectors.BadSearch("service-type", "Cal.com takes one event type")
	}
	eventType := c.cfg.EventTypeID
	if st := params.Get("service-type"); st != "" {
		system, code, found := strings.Cut(st, "|")
		if !found {
			system, code = mapping.EventTypeSystem, st
		}
		n, err := strconv.ParseInt(code, 10, 64)
		if system != mapping.EventTypeSystem || err != nil || n <= 0 {
			return connectors.SearchPage{}, connectors.BadSearch("service-type", "service-type must be a Cal.com event type id (https://cal.com/event-type|123)")
		}
		eventType = n
	}
	if eventType <= 0 {
		return connectors.SearchPage{}, connectors.BadSearch("service-type", "a Slot search needs service-type when the destination has no event_type_id")
	}
	v := url.Values{"start": {start}, "end": {end}, "eventTypeId": {strconv.FormatInt(eventType, 10)}, "format": {"range"}}
	resp, err := c.do(ctx, c.get("/v2/slots?"+v.Encode(), "/v2/slots", SlotsVersion))
	if err != nil {
		return connectors.SearchPage{}, err
	}
	slots, err := mapping.Slots(resp.Body, fmt.Sprintf("Cal.com event type %d", eventType), time.Duration(c.cfg.SlotMinutes)*time.Minute)
	if err != nil {
		return connectors.SearchPage{}, connectors.PermanentError("mapping", err)
	}
	return connectors.SearchPage{Resources: slots}, nil
}

// plusSign restores the + of a time zone offset that a query string left
// unescaped (it arrives as a space).
func plusSign(v string) string { return strings.ReplaceAll(v, " ", "+") }

// isDate reports whether v is a FHIR instant or a full date, the forms
// Cal.com's slots take.
func isDate(v string) bool {
	if _, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return true
	}
	_, err := time.Parse(time.DateOnly, v)
	return err == nil
}

// splitPrefix separates a FHIR date search prefix (ge2030-01-01).
func splitPrefix(v string) (string, string) {
	if len(v) > 2 && v[0] >= 'a' && v[0] <= 'z' && v[1] >= 'a' && v[1] <= 'z' {
		return v[:2], v[2:]
	}
	return "", v
}

func (c *Connector) searchBooking(ctx context.Context, identifier string) (connectors.SearchPage, error) {
	uid := identifier
	if system, value, found := strings.Cut(identifier, "|"); found {
		if system != mapping.BookingSystem {
			return connectors.SearchPage{}, nil // not a Cal.com identifier: nothing here has it
		}
		uid = value
	}
	if uid == "" {
		return connectors.SearchPage{}, connectors.BadSearch("identifier", "the identifier has no value")
	}
	resp, err := c.do(ctx, c.get("/v2/bookings/"+url.PathEscape(uid), "/v2/bookings/{uid}", BookingsVersion))
	var ce *connectors.Error
	if errors.As(err, &ce) && ce.Status == http.StatusNotFound {
		return connectors.SearchPage{}, nil
	}
	if err != nil {
		return connectors.SearchPage{}, err
	}
	appts, err := mapping.Appointments(resp.Body)
	if err != nil {
		return connectors.SearchPage{}, connectors.PermanentError("mapping", err)
	}
	return connectors.SearchPage{Resources: appts}, nil
}

// dateWindow turns FHIR date=ge…/gt… and date=lt…/le… (instants, or dates
// read as midnight UTC) into Cal.com's afterStart and beforeEnd. Both bounds
// are needed: an open window would list a calendar's whole history.
func dateWindow(values []string) (url.Values, error) {
	out := url.Values{}
	for _, v := range values {
		prefix, date := splitPrefix(v)
		t, err := time.Parse(time.RFC3339Nano, date)
		if err != nil {
			if t, err = time.Parse(time.DateOnly, date); err != nil {
				return nil, connectors.BadSearch("date", "date must be a FHIR instant or date")
			}
		}
		at := t.UTC().Format("2006-01-02T15:04:05.000Z")
		var bound string
		switch prefix {
		case "ge", "gt":
			bound = "afterStart"
		case "lt", "le":
			bound = "beforeEnd"
		default:
			return nil, connectors.BadSearch("date", "date needs the prefixes ge (or gt) and lt (or le)")
		}
		if out.Has(bound) {
			return nil, connectors.BadSearch("date", "date takes one lower and one upper bound")
		}
		out.Set(bound, at)
	}
	if out.Get("afterStart") == "" || out.Get("beforeEnd") == "" {
		return nil, connectors.BadSearch("date", "date needs both ge (or gt) and lt (or le)")
	}
	return out, nil
}

func (c *Connector) searchBookings(ctx context.Context, filter url.Values, q connectors.SearchQuery) (connectors.SearchPage, error) {
	take, skip := defaultCount, 0
	if n, err := strconv.Atoi(q.Params.Get("_count")); err == nil && n > 0 {
		take = min(n, maxCount)
	}
	if q.Cursor != "" {
		var err error
		if take, skip, err = decodeCursor(q.Cursor); err != nil {
			return connectors.SearchPage{}, connectors.PermanentError("cursor", errors.New("calcom: the cursor is not one this connector gave"))
		}
	}
	v := url.Values{"take": {strconv.Itoa(take)}, "skip": {strconv.Itoa(skip)}}
	for k, vs := range filter {
		v[k] = vs
	}
	resp, err := c.do(ctx, c.get("/v2/bookings?"+v.Encode(), "/v2/bookings", BookingsVersion))
	if err != nil {
		return connectors.SearchPage{}, err
	}
	appts, err := mapping.Appointments(resp.Body)
	if err != nil {
		return connectors.SearchPage{}, connectors.PermanentError("mapping", err)
	}
	var page struct {
		Pagination struct {
			HasNextPage bool `json:"hasNextPage"`
		} `json:"pagination"`
	}
	_ = json.Unmarshal(resp.Body, &page)
	out := connectors.SearchPage{Resources: appts}
	if page.Pagination.HasNextPage && len(appts) > 0 {
		out.Next = encodeCursor(take, skip+len(appts))
	}
	return out, nil
}

// The cursor is "take.skip" in base64url: opaque to the client, and
// enough for Cal.com's offset paging.
func encodeCursor(take, skip int) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.Itoa(take) + "." + strconv.Itoa(skip)))
}

func decodeCursor(s string) (take, skip int, err error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return 0, 0, err
	}
	t, k, ok := strings.Cut(string(b), ".")
	if !ok {
		return 0, 0, errors.New("no separator")
	}
	if take, err = strconv.Atoi(t); err != nil || take <= 0 || take > maxCount {
		return 0, 0, errors.New("bad take")
	}
	if skip, err = strconv.Atoi(k); err != nil || skip < 0 {
		return 0, 0, errors.New("bad skip")
	}
	return take, skip, nil
}
