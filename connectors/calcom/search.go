package calcom

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
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

// Search implements connectors.Searcher:
//
//	Slot         start, end (FHIR dates, prefixes ge/gt/le/lt; a second start=lt… works as end),
//	             service-type (https://cal.com/event-type|123 or 123, else event_type_id)
//	             -> GET /v2/slots?start&end&eventTypeId&format=range, free Slots
//	Appointment  identifier (the booking uid, [https://switchboard.health/id/calcom-booking|]uid)
//	             -> GET /v2/bookings/{uid}: one Appointment, none when Cal.com has no such booking;
//	             patient.email (or attendee-email) -> GET /v2/bookings?attendeeEmail&take&skip,
//	             _count per page (default 20, at most 100);
//	             date=ge|gt{instant} and date=lt|le{instant} (the start's window)
//	             -> GET /v2/bookings?afterStart&beforeEnd&take&skip, every status
//	             (cancelled included: no status filter), _count as above
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
	switch q.ResourceType {
	case "Slot":
		return c.searchSlots(ctx, q.Params)
	case "Appointment":
		if id := q.Params.Get("identifier"); id != "" {
			return c.searchBooking(ctx, id)
		}
		for _, p := range []string{"patient.email", "attendee-email", "attendeeEmail"} {
			if email := q.Params.Get(p); email != "" {
				return c.searchBookings(ctx, url.Values{"attendeeEmail": {email}}, q)
			}
		}
		if len(q.Params["date"]) > 0 {
			filter, err := dateWindow(q.Params["date"])
			if err != nil {
				return connectors.SearchPage{}, err
			}
			return c.searchBookings(ctx, filter, q)
		}
		return connectors.SearchPage{}, searchError("Appointment search needs identifier, patient.email or a date window")
	}
	return connectors.SearchPage{}, connectors.PermanentError("unsupported_resource",
		fmt.Errorf("calcom searches Slot and Appointment, not %s", q.ResourceType))
}

func searchError(msg string) error {
	return connectors.PermanentError("unsupported_search", errors.New("calcom: "+msg))
}

func (c *Connector) searchSlots(ctx context.Context, params url.Values) (connectors.SearchPage, error) {
	var start, end string
	for _, v := range params["start"] {
		switch prefix, date := splitPrefix(v); prefix {
		case "lt", "le":
			end = date
		default:
			start = date
		}
	}
	for _, v := range params["end"] {
		_, end = splitPrefix(v)
	}
	if start == "" || end == "" {
		return connectors.SearchPage{}, searchError("Slot search needs start and end")
	}
	eventType := c.cfg.EventTypeID
	if st := params.Get("service-type"); st != "" {
		system, code, found := strings.Cut(st, "|")
		if !found {
			system, code = mapping.EventTypeSystem, st
		}
		n, err := strconv.ParseInt(code, 10, 64)
		if system != mapping.EventTypeSystem || err != nil || n <= 0 {
			return connectors.SearchPage{}, searchError("service-type must be a Cal.com event type id")
		}
		eventType = n
	}
	if eventType <= 0 {
		return connectors.SearchPage{}, searchError("Slot search needs service-type or the destination's event_type_id")
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
		return connectors.SearchPage{}, searchError("identifier has no value")
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
				return nil, searchError("date must be a FHIR instant or date")
			}
		}
		at := t.UTC().Format("2006-01-02T15:04:05.000Z")
		switch prefix {
		case "ge", "gt":
			out.Set("afterStart", at)
		case "lt", "le":
			out.Set("beforeEnd", at)
		default:
			return nil, searchError("date needs the prefixes ge (or gt) and lt (or le)")
		}
	}
	if out.Get("afterStart") == "" || out.Get("beforeEnd") == "" {
		return nil, searchError("date needs both ge (or gt) and lt (or le)")
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
			return connectors.SearchPage{}, searchError("the cursor is not one this connector gave")
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
