package calsim

import (
	"crypto/rand"
	"sort"
	"strings"
	"sync"
	"time"
)

// calTime is how Cal.com writes instants: UTC with milliseconds.
const calTime = "2006-01-02T15:04:05.000Z"

// Booking statuses, as Cal.com's BookingOutput_2024_08_13 spells them.
const (
	statusAccepted  = "accepted"
	statusPending   = "pending"
	statusCancelled = "cancelled"
	statusRejected  = "rejected"
)

// HostEmail is the email of the sandbox's one host, who owns every API key:
// Cal.com records the API key's user as cancelledByEmail of a booking
// cancelled through the API.
const HostEmail = "host@sandbox.invalid"

// attendee is CreateBookingAttendee as stored.
type attendee struct {
	Name, Email, TimeZone, Language string
}

// booking is one stored booking. Stored values are replaced, never mutated
// in place, once a pointer has left the lock.
type booking struct {
	id                 int64
	uid                string
	status             string
	start, end         time.Time
	eventTypeID        int64
	attendee           attendee
	metadata           map[string]any
	cancellationReason string
	reschedulingReason string
	rescheduledFrom    string
	rescheduledTo      string
	rescheduledBy      string // rescheduledByEmail: the reschedule input's rescheduledBy
	cancelledBy        string // cancelledByEmail: the API key's owner (HostEmail)
	createdAt          time.Time
	updatedAt          time.Time
}

// active reports whether the booking still holds its time.
func (b *booking) active() bool { return b.status == statusAccepted || b.status == statusPending }

// output is the booking as BookingOutput_2024_08_13. The host is the
// sandbox's one fictitious host; title and description hold no attendee data.
func (b *booking) output() map[string]any {
	a := map[string]any{
		"name": b.attendee.Name, "email": b.attendee.Email, "displayEmail": b.attendee.Email,
		"timeZone": b.attendee.TimeZone, "absent": false,
	}
	if b.attendee.Language != "" {
		a["language"] = b.attendee.Language
	}
	out := map[string]any{
		"id":          b.id,
		"uid":         b.uid,
		"title":       "Sandbox booking",
		"description": "",
		"hosts": []any{map[string]any{"id": 1, "name": "Sandbox Host", "email": HostEmail,
			"displayEmail": HostEmail, "username": "sandbox-host", "timeZone": "UTC"}},
		"status":                 b.status,
		"start":                  b.start.UTC().Format(calTime),
		"end":                    b.end.UTC().Format(calTime),
		"duration":               int64(b.end.Sub(b.start) / time.Minute),
		"eventTypeId":            b.eventTypeID,
		"eventType":              map[string]any{"id": b.eventTypeID, "slug": "sandbox-event-type"},
		"location":               "",
		"absentHost":             false,
		"createdAt":              b.createdAt.UTC().Format(calTime),
		"updatedAt":              b.updatedAt.UTC().Format(calTime),
		"metadata":               b.metadata,
		"attendees":              []any{a},
		"bookingFieldsResponses": map[string]any{"name": b.attendee.Name, "email": b.attendee.Email},
	}
	if b.metadata == nil {
		out["metadata"] = map[string]any{}
	}
	for k, v := range map[string]string{"cancellationReason": b.cancellationReason, "reschedulingReason": b.reschedulingReason,
		"rescheduledFromUid": b.rescheduledFrom, "rescheduledToUid": b.rescheduledTo,
		"rescheduledByEmail": b.rescheduledBy, "cancelledByEmail": b.cancelledBy} {
		if v != "" {
			out[k] = v
		}
	}
	return out
}

// store is the in-memory Cal.com account. One mutex guards it; nothing slow
// happens while it is held.
type store struct {
	mu     sync.Mutex
	byUID  map[string]*booking
	nextID int64
}

func newStore() *store { return &store{byUID: map[string]*booking{}, nextID: 1} }

func (s *store) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.byUID, s.nextID = map[string]*booking{}, 1
}

// insertLocked stores b with a fresh id and uid. Callers hold mu.
func (s *store) insertLocked(b *booking) {
	b.id = s.nextID
	s.nextID++
	for {
		b.uid = newUID()
		if s.byUID[b.uid] == nil {
			break
		}
	}
	s.byUID[b.uid] = b
}

func (s *store) get(uid string) (map[string]any, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.byUID[uid]
	if b == nil {
		return nil, false
	}
	return b.output(), true
}

// filter is a bookings list query.
type filter struct {
	attendeeEmail, attendeeName, uid string
	eventTypes                       map[int64]bool
	afterStart, beforeEnd            time.Time
	statuses                         map[string]bool // upcoming, past, cancelled, unconfirmed, recurring
	now                              time.Time
	desc                             bool
}

func (f *filter) matches(b *booking) bool {
	switch {
	case f.attendeeEmail != "" && !strings.EqualFold(b.attendee.Email, f.attendeeEmail),
		f.attendeeName != "" && !strings.EqualFold(b.attendee.Name, f.attendeeName),
		f.uid != "" && b.uid != f.uid,
		len(f.eventTypes) > 0 && !f.eventTypes[b.eventTypeID],
		!f.afterStart.IsZero() && b.start.Before(f.afterStart),
		!f.beforeEnd.IsZero() && b.end.After(f.beforeEnd):
		return false
	}
	if len(f.statuses) == 0 {
		return true
	}
	cancelled := b.status == statusCancelled || b.status == statusRejected
	return f.statuses["upcoming"] && !cancelled && !b.end.Before(f.now) ||
		f.statuses["past"] && !cancelled && b.end.Before(f.now) ||
		f.statuses["cancelled"] && cancelled ||
		f.statuses["unconfirmed"] && b.status == statusPending && !b.end.Before(f.now)
}

// list returns the matching bookings sorted by start (then id), and how
// many matched in all.
func (s *store) list(f *filter, skip, take int) ([]map[string]any, int) {
	s.mu.Lock()
	var hits []*booking
	for _, b := range s.byUID {
		if f.matches(b) {
			hits = append(hits, b)
		}
	}
	sort.Slice(hits, func(i, j int) bool {
		if !hits[i].start.Equal(hits[j].start) {
			return hits[i].start.Before(hits[j].start) != f.desc
		}
		return hits[i].id < hits[j].id
	})
	total := len(hits)
	out := []map[string]any{}
	for i := skip; i < total && len(out) < take; i++ {
		out = append(out, hits[i].output())
	}
	s.mu.Unlock()
	return out, total
}

// busy returns the active bookings' periods overlapping [from, to).
func (s *store) busy(from, to time.Time) [][2]time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out [][2]time.Time
	for _, b := range s.byUID {
		if b.active() && b.start.Before(to) && b.end.After(from) {
			out = append(out, [2]time.Time{b.start, b.end})
		}
	}
	return out
}

const uidAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// newUID returns a 22-character uid shaped like Cal.com's.
func newUID() string {
	var b [22]byte
	_, _ = rand.Read(b[:])
	for i := range b {
		b[i] = uidAlphabet[int(b[i])%len(uidAlphabet)]
	}
	return string(b[:])
}
