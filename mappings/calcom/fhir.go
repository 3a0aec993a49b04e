package calcom

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	fhirjson "github.com/switchboard-health/switchboard/mappings/fhir"
)

// Booking is the part of Cal.com's BookingOutput_2024_08_13 mapped back to
// FHIR. Its title, description, location, responses and metadata are not
// read: they can hold free text.
type Booking struct {
	UID         string  `json:"uid"`
	Status      string  `json:"status"`
	Start       string  `json:"start"`
	End         string  `json:"end"`
	Duration    float64 `json:"duration"`
	EventTypeID float64 `json:"eventTypeId"`
	EventType   *struct {
		ID float64 `json:"id"`
	} `json:"eventType"`
	Attendees []struct {
		Name string `json:"name"`
	} `json:"attendees"`
	Hosts []struct {
		Name string `json:"name"`
	} `json:"hosts"`
	// CreatedAt and UpdatedAt give the Appointment's meta.lastUpdated,
	// the vendor time a drift repair compares (the later one wins).
	CreatedAt string `json:"createdAt"`
	UpdatedAt string `json:"updatedAt"`
	// RescheduledToUID is set on a booking a reschedule replaced: Cal.com
	// cancels it and makes a new booking, so its cancellation is not one
	// to copy anywhere (the Appointment is tagged RescheduledTag).
	RescheduledToUID string `json:"rescheduledToUid"`
}

// RescheduledTag (meta.tag, system fhirjson.OriginSystem) marks the Appointment of a
// booking a reschedule replaced: cancelled at Cal.com only because a new
// booking, with a new uid, took its place.
const RescheduledTag = "calcom-rescheduled"

// statuses maps Cal.com booking statuses to FHIR Appointment.status. The
// spec lists accepted, pending, cancelled and rejected; "past" is what the
// bookings list filter calls a finished booking and is mapped for safety.
var statuses = map[string]string{
	"accepted":  "booked",
	"pending":   "proposed",
	"cancelled": "cancelled",
	"rejected":  "cancelled",
	"past":      "fulfilled",
}

// ErrNotBooking is returned for an answer that holds no booking.
var ErrNotBooking = errors.New("calcom mapping: the answer holds no booking")

// Appointments maps a Cal.com bookings answer ({"status","data"} with data
// one booking or a list) to FHIR Appointments.
func Appointments(body []byte) ([]json.RawMessage, error) {
	var env struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &env); err != nil || len(env.Data) == 0 {
		return nil, ErrNotBooking
	}
	var list []json.RawMessage
	if env.Data[0] == '[' {
		if err := json.Unmarshal(env.Data, &list); err != nil {
			return nil, ErrNotBooking
		}
	} else {
		list = []json.RawMessage{env.Data}
	}
	out := make([]json.RawMessage, 0, len(list))
	for i, raw := range list {
		var b Booking
		if err := json.Unmarshal(raw, &b); err != nil || b.UID == "" {
			return nil, fmt.Errorf("calcom mapping: booking %d: %w", i, ErrNotBooking)
		}
		a, err := AppointmentFromBooking(b)
		if err != nil {
			return nil, fmt.Errorf("calcom mapping: booking %d: %w", i, err)
		}
		out = append(out, a)
	}
	return out, nil
}

// AppointmentFromBooking maps one booking to a FHIR Appointment.
func AppointmentFromBooking(b Booking) (json.RawMessage, error) {
	status, ok := statuses[b.Status]
	if !ok {
		return nil, fmt.Errorf("calcom mapping: unknown booking status")
	}
	start, err := time.Parse(time.RFC3339, b.Start)
	if err != nil {
		return nil, fmt.Errorf("calcom mapping: booking start is not an instant")
	}
	end, err := time.Parse(time.RFC3339, b.End)
	if err != nil {
		return nil, fmt.Errorf("calcom mapping: booking end is not an instant")
	}
	meta := map[string]any{"tag": []any{fhirjson.OriginTag(OriginCode)}}
	if b.RescheduledToUID != "" {
		meta["tag"] = append(meta["tag"].([]any), fhirjson.OriginTag(RescheduledTag))
	}
	if at := lastUpdated(b); !at.IsZero() {
		meta["lastUpdated"] = at.UTC().Format(time.RFC3339Nano)
	}
	a := map[string]any{
		"resourceType": "Appointment",
		"meta":         meta,
		"identifier":   []any{map[string]any{"system": BookingSystem, "value": b.UID}},
		"status":       status,
		"start":        start.UTC().Format(time.RFC3339),
		"end":          end.UTC().Format(time.RFC3339),
	}
	if m := int64(end.Sub(start) / time.Minute); m > 0 {
		a["minutesDuration"] = m
	}
	et := int64(b.EventTypeID)
	if b.EventType != nil && b.EventType.ID > 0 {
		et = int64(b.EventType.ID)
	}
	if et > 0 {
		a["serviceType"] = []any{map[string]any{"coding": []any{map[string]any{"system": EventTypeSystem, "code": fmt.Sprint(et)}}}}
	}
	var parts []any
	for _, at := range b.Attendees {
		parts = append(parts, participant(at.Name, "Patient"))
	}
	for _, h := range b.Hosts {
		parts = append(parts, participant(h.Name, "Practitioner"))
	}
	if len(parts) == 0 { // FHIR requires one participant
		parts = append(parts, map[string]any{"status": "needs-action"})
	}
	a["participant"] = parts
	return canonical(a), nil
}

// lastUpdated is a booking's vendor change time: its updatedAt, or its
// createdAt when that is later or the only one given (a booking a
// reschedule made); zero when it has neither (a webhook's booking).
func lastUpdated(b Booking) time.Time {
	var at time.Time
	for _, s := range []string{b.UpdatedAt, b.CreatedAt} {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil && t.After(at) {
			at = t
		}
	}
	return at
}

func participant(display, typ string) map[string]any {
	actor := map[string]any{"type": typ}
	if display != "" {
		actor["display"] = display
	}
	return map[string]any{"actor": actor, "status": "accepted"}
}

// Slots maps a Cal.com slots answer (2024-09-04; data is a map from date to
// slots, each {"start"[,"end"]} or a bare start string) to free FHIR Slots,
// sorted by start. A slot without an end lasts length; schedule is shown as
// the Slot's schedule display.
func Slots(body []byte, schedule string, length time.Duration) ([]json.RawMessage, error) {
	var env struct {
		Data map[string][]json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, errors.New("calcom mapping: the answer holds no slots")
	}
	type slot struct{ start, end time.Time }
	var slots []slot
	for _, day := range env.Data {
		for _, raw := range day {
			var s struct{ Start, End string }
			// The spec's schema says strings, its example (and Cal.com's
			// docs) objects: both are read.
			if json.Unmarshal(raw, &s.Start) != nil {
				if err := json.Unmarshal(raw, &s); err != nil {
					return nil, errors.New("calcom mapping: a slot is neither a string nor an object")
				}
			}
			start, err := time.Parse(time.RFC3339, s.Start)
			if err != nil {
				return nil, errors.New("calcom mapping: a slot start is not an instant")
			}
			end := start.Add(length)
			if s.End != "" {
				if end, err = time.Parse(time.RFC3339, s.End); err != nil {
					return nil, errors.New("calcom mapping: a slot end is not an instant")
				}
			}
			if !end.After(start) {
				return nil, errors.New("calcom mapping: a slot has no end (ask format=range or give a length)")
			}
			slots = append(slots, slot{start, end})
		}
	}
	sort.Slice(slots, func(i, j int) bool { return slots[i].start.Before(slots[j].start) })
	out := make([]json.RawMessage, 0, len(slots))
	for _, s := range slots {
		out = append(out, canonical(map[string]any{
			"resourceType": "Slot",
			"meta":         map[string]any{"tag": []any{fhirjson.OriginTag(OriginCode)}},
			"schedule":     map[string]any{"display": schedule},
			"status":       "free",
			"start":        s.start.UTC().Format(time.RFC3339),
			"end":          s.end.UTC().Format(time.RFC3339),
		}))
	}
	return out, nil
}
