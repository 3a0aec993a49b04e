package calsim

import (
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// createInput is the part of CreateBookingInput_2024_08_13 the sandbox
// understands; other fields (guests, location, bookingFieldsResponses, …)
// are accepted and ignored.
type createInput struct {
	Start           string  `json:"start"`
	LengthInMinutes float64 `json:"lengthInMinutes"`
	EventTypeID     float64 `json:"eventTypeId"`
	Attendee        *struct {
		Name        string `json:"name"`
		Email       string `json:"email"`
		TimeZone    string `json:"timeZone"`
		Language    string `json:"language"`
		PhoneNumber string `json:"phoneNumber"`
	} `json:"attendee"`
	Metadata map[string]any `json:"metadata"`
}

// Cal.com's limits on booking metadata.
const (
	maxMetadataKeys     = 50
	maxMetadataKeyLen   = 40
	maxMetadataValueLen = 500
)

func (s *Server) create(r *http.Request, body []byte) answer {
	var in createInput
	if err := json.Unmarshal(body, &in); err != nil {
		return fail(r, http.StatusBadRequest, "BadRequestException", "the body is not a booking input")
	}
	start, err := time.Parse(time.RFC3339, in.Start)
	switch {
	case err != nil:
		return fail(r, http.StatusBadRequest, "BadRequestException", "start must be an ISO 8601 instant")
	case in.EventTypeID <= 0 || in.EventTypeID != math.Trunc(in.EventTypeID):
		return fail(r, http.StatusBadRequest, "BadRequestException", "eventTypeId must be a positive integer")
	case in.LengthInMinutes < 0 || in.LengthInMinutes != math.Trunc(in.LengthInMinutes):
		return fail(r, http.StatusBadRequest, "BadRequestException", "lengthInMinutes must be a positive integer")
	case in.Attendee == nil || strings.TrimSpace(in.Attendee.Name) == "":
		return fail(r, http.StatusBadRequest, "BadRequestException", "attendee.name is required")
	case strings.TrimSpace(in.Attendee.Email) == "" && in.Attendee.PhoneNumber == "":
		return fail(r, http.StatusBadRequest, "BadRequestException", "attendee.email or attendee.phoneNumber is required")
	case in.Attendee.Email != "" && !strings.Contains(in.Attendee.Email, "@"):
		return fail(r, http.StatusBadRequest, "BadRequestException", "attendee.email must be an email")
	}
	if _, err := time.LoadLocation(in.Attendee.TimeZone); err != nil || in.Attendee.TimeZone == "" {
		return fail(r, http.StatusBadRequest, "BadRequestException", "attendee.timeZone must be an IANA time zone")
	}
	if msg := checkMetadata(in.Metadata); msg != "" {
		return fail(r, http.StatusBadRequest, "BadRequestException", msg)
	}
	length := time.Duration(s.opts.DefaultLengthMinutes) * time.Minute
	if in.LengthInMinutes > 0 {
		length = time.Duration(in.LengthInMinutes) * time.Minute
	}
	now := s.opts.Now().UTC()
	b := &booking{
		status: statusAccepted, start: start.UTC(), end: start.UTC().Add(length), eventTypeID: int64(in.EventTypeID),
		attendee: attendee{Name: in.Attendee.Name, Email: strings.TrimSpace(in.Attendee.Email),
			TimeZone: in.Attendee.TimeZone, Language: in.Attendee.Language},
		metadata: in.Metadata, createdAt: now, updatedAt: now,
	}
	s.store.mu.Lock()
	s.store.insertLocked(b)
	out := b.output()
	s.hookLocked(triggerCreated, b, nil)
	s.store.mu.Unlock()
	return success(http.StatusCreated, out, EffectCreated, b.uid)
}

func checkMetadata(m map[string]any) string {
	if len(m) > maxMetadataKeys {
		return "metadata has more than 50 keys"
	}
	for k, v := range m {
		if len(k) > maxMetadataKeyLen {
			return "a metadata key is longer than 40 characters"
		}
		switch v := v.(type) {
		case string:
			if len(v) > maxMetadataValueLen {
				return "a metadata value is longer than 500 characters"
			}
		case float64, bool:
		default:
			return "metadata values must be strings, numbers or booleans"
		}
	}
	return ""
}

func (s *Server) read(r *http.Request, uid string) answer {
	b, ok := s.store.get(uid)
	if !ok {
		return fail(r, http.StatusNotFound, "NotFoundException", "booking not found")
	}
	return success(http.StatusOK, b, EffectRead, uid)
}

func (s *Server) list(r *http.Request) answer {
	q := r.URL.Query()
	f := &filter{attendeeEmail: q.Get("attendeeEmail"), attendeeName: q.Get("attendeeName"), uid: q.Get("bookingUid"),
		now: s.opts.Now(), desc: q.Get("sortStart") == "desc"}
	for _, p := range []string{"eventTypeId", "eventTypeIds"} {
		for _, v := range strings.Split(q.Get(p), ",") {
			if v = strings.TrimSpace(v); v == "" {
				continue
			}
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return fail(r, http.StatusBadRequest, "BadRequestException", p+" must list integers")
			}
			if f.eventTypes == nil {
				f.eventTypes = map[int64]bool{}
			}
			f.eventTypes[n] = true
		}
	}
	for _, p := range []struct {
		name string
		into *time.Time
	}{{"afterStart", &f.afterStart}, {"beforeEnd", &f.beforeEnd}} {
		if v := q.Get(p.name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return fail(r, http.StatusBadRequest, "BadRequestException", p.name+" must be an ISO 8601 instant")
			}
			*p.into = t
		}
	}
	for _, v := range strings.Split(q.Get("status"), ",") {
		switch v = strings.TrimSpace(v); v {
		case "":
		case "upcoming", "recurring", "past", "cancelled", "unconfirmed":
			if f.statuses == nil {
				f.statuses = map[string]bool{}
			}
			f.statuses[v] = true
		default:
			return fail(r, http.StatusBadRequest, "BadRequestException", "status must be upcoming, recurring, past, cancelled or unconfirmed")
		}
	}
	take, ok1 := intParam(q.Get("take"), 100)
	skip, ok2 := intParam(q.Get("skip"), 0)
	if !ok1 || !ok2 || take < 1 || skip < 0 {
		return fail(r, http.StatusBadRequest, "BadRequestException", "take must be positive and skip not negative")
	}
	data, total := s.store.list(f, skip, take)
	returned := len(data)
	page := map[string]any{
		"totalItems":      total,
		"remainingItems":  max(0, total-(skip+returned)),
		"returnedItems":   returned,
		"itemsPerPage":    take,
		"currentPage":     skip/take + 1,
		"totalPages":      (total + take - 1) / take,
		"hasNextPage":     skip+returned < total,
		"hasPreviousPage": skip > 0,
	}
	return answer{status: http.StatusOK, effect: EffectSearch,
		body: map[string]any{"status": "success", "data": data, "pagination": page}}
}

func intParam(v string, def int) (int, bool) {
	if v == "" {
		return def, true
	}
	n, err := strconv.Atoi(v)
	return n, err == nil
}

// reschedule does what Cal.com does: the booking is not moved but replaced.
// A new booking (new uid, rescheduledFromUid, createdAt now) takes the new
// start and the old one becomes cancelled with rescheduledToUid (updatedAt
// now). Both carry the input's rescheduledBy as rescheduledByEmail (Cal.com
// stores it on the old booking and answers it on the new one). A booking
// already cancelled or rescheduled cannot be rescheduled again (400), as in
// Cal.com's v2 API since mid-2025.
func (s *Server) reschedule(r *http.Request, uid string, body []byte) answer {
	var in struct {
		Start              string `json:"start"`
		ReschedulingReason string `json:"reschedulingReason"`
		RescheduledBy      string `json:"rescheduledBy"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return fail(r, http.StatusBadRequest, "BadRequestException", "the body is not a reschedule input")
	}
	if in.RescheduledBy != "" && !strings.Contains(in.RescheduledBy, "@") {
		return fail(r, http.StatusBadRequest, "BadRequestException", "rescheduledBy must be an email")
	}
	start, err := time.Parse(time.RFC3339, in.Start)
	if err != nil {
		return fail(r, http.StatusBadRequest, "BadRequestException", "start must be an ISO 8601 instant")
	}
	now := s.opts.Now().UTC()
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	old := s.store.byUID[uid]
	switch {
	case old == nil:
		return fail(r, http.StatusNotFound, "NotFoundException", "booking not found")
	case old.rescheduledTo != "":
		return fail(r, http.StatusBadRequest, "BadRequestException", "this booking has already been rescheduled")
	case !old.active():
		return fail(r, http.StatusBadRequest, "BadRequestException", "a cancelled or rejected booking cannot be rescheduled")
	}
	nb := *old
	nb.start, nb.end = start.UTC(), start.UTC().Add(old.end.Sub(old.start))
	nb.status, nb.rescheduledFrom, nb.rescheduledTo = statusAccepted, old.uid, ""
	nb.reschedulingReason, nb.cancellationReason = in.ReschedulingReason, ""
	nb.rescheduledBy, nb.cancelledBy = in.RescheduledBy, ""
	nb.createdAt, nb.updatedAt = now, now
	s.store.insertLocked(&nb)
	done := *old
	done.status, done.rescheduledTo, done.reschedulingReason, done.updatedAt = statusCancelled, nb.uid, in.ReschedulingReason, now
	done.rescheduledBy = in.RescheduledBy
	s.store.byUID[uid] = &done
	s.hookLocked(triggerRescheduled, &nb, old)
	return success(http.StatusCreated, nb.output(), EffectRescheduled, nb.uid)
}

// cancel cancels a booking (cancelledByEmail: the API key's user, HostEmail;
// updatedAt now); cancelling it again answers 400, as Cal.com does, and so
// does cancelling a booking that was rescheduled (it is cancelled already).
func (s *Server) cancel(r *http.Request, uid string, body []byte) answer {
	var in struct {
		CancellationReason string `json:"cancellationReason"`
	}
	if len(strings.TrimSpace(string(body))) > 0 {
		if err := json.Unmarshal(body, &in); err != nil {
			return fail(r, http.StatusBadRequest, "BadRequestException", "the body is not a cancel input")
		}
	}
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	b := s.store.byUID[uid]
	switch {
	case b == nil:
		return fail(r, http.StatusNotFound, "NotFoundException", "booking not found")
	case !b.active():
		return fail(r, http.StatusBadRequest, "BadRequestException", "this booking has already been cancelled")
	}
	done := *b
	done.status, done.cancellationReason, done.updatedAt = statusCancelled, in.CancellationReason, s.opts.Now().UTC()
	done.cancelledBy = HostEmail
	s.store.byUID[uid] = &done
	s.hookLocked(triggerCancelled, &done, nil)
	return success(http.StatusOK, done.output(), EffectCancelled, uid)
}
