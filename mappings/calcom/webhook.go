package calcom

import (
	"encoding/json"
	"errors"
	"strings"
	"time"
)

// Cal.com webhook trigger events mapped to an Appointment. The envelope is
// {"triggerEvent", "createdAt", "payload"}; the payload is the booking's
// calendar event plus bookingId, uid, status (upper case: ACCEPTED,
// CANCELLED, ...), metadata, and on a reschedule rescheduleUid (the uid of
// the booking that was moved; the tasker path sends the booking's
// fromReschedule instead). Sources: Cal.com's webhook guide,
// https://cal.com/docs/developing/guides/automation/webhooks ("An example
// webhook payload" and the variable list), and the webhookData built in
// Cal.com's handleNewBooking (rescheduleUid, rescheduleStartTime, metadata,
// status "ACCEPTED").
const (
	TriggerCreated     = "BOOKING_CREATED"
	TriggerRescheduled = "BOOKING_RESCHEDULED"
	TriggerCancelled   = "BOOKING_CANCELLED"
)

// Metadata keys the create-booking body writes (see booking.go) and a
// webhook carries back in payload.metadata.
const (
	MetaOrigin        = "switchboard_origin"
	MetaAppointmentID = "fhir_appointment_id"
	MetaTransfer      = "switchboard_transfer"
	// OriginHub is MetaOrigin's value on every booking the hub made.
	OriginHub = "switchboard"
)

// Interaction is what the hub does with a webhook's Appointment at the
// source of truth; the values are those of connectors.Interaction.
type Interaction string

const (
	// InteractionCreate: a new Appointment (conditional on the booking uid).
	InteractionCreate Interaction = "create"
	// InteractionUpdate: update the Appointment found by MatchUID.
	InteractionUpdate Interaction = "update"
)

// ErrIgnored is returned for a well-formed webhook whose trigger event is
// not mapped (MEETING_ENDED, BOOKING_REQUESTED, ...): the hub acknowledges
// it and does nothing. It is not a failure.
var ErrIgnored = errors.New("calcom webhook: trigger event not mapped")

// Errors of a malformed webhook body. They name the field, never its value.
var (
	ErrNotWebhook  = errors.New("calcom webhook: the body is not a Cal.com webhook (triggerEvent, payload)")
	ErrNoUID       = errors.New("calcom webhook: payload.uid is missing")
	ErrNoOldUID    = errors.New("calcom webhook: a reschedule has no payload.rescheduleUid or payload.fromReschedule")
	ErrWebhookTime = errors.New("calcom webhook: payload.startTime or payload.endTime is missing or not an instant")
)

// WebhookEvent is a Cal.com booking webhook mapped to FHIR. None of its
// fields but Appointment hold PHI.
type WebhookEvent struct {
	// Trigger is the webhook's triggerEvent (one of the Trigger constants).
	Trigger string
	// Interaction is create for BOOKING_CREATED, update otherwise.
	Interaction Interaction
	// UID is the booking's uid; on a reschedule, the new booking's.
	UID string
	// PreviousUID is, on a reschedule, the uid of the booking that was moved
	// (Cal.com makes a new booking); "" otherwise.
	PreviousUID string
	// Appointment is the FHIR R4 Appointment, keys sorted. PHI (names).
	Appointment json.RawMessage
	// Origin is metadata.switchboard_origin: OriginHub when the hub itself
	// made the booking (loop prevention,
	// docs/decisions/0007-reconcilers-and-loops.md).
	Origin string
	// AppointmentID is metadata.fhir_appointment_id ("Appointment/{id}"),
	// TransferID metadata.switchboard_transfer: set on bookings the hub made.
	AppointmentID string
	TransferID    string
}

// FromHub reports whether the booking was made by the hub, whose own write
// must not come back as an inbound change.
func (e WebhookEvent) FromHub() bool { return e.Origin == OriginHub }

// MatchUID is the booking uid the existing Appointment carries (identifier
// BookingSystem): the moved booking's on a reschedule, else the booking's.
func (e WebhookEvent) MatchUID() string {
	if e.PreviousUID != "" {
		return e.PreviousUID
	}
	return e.UID
}

type webhookBody struct {
	TriggerEvent string          `json:"triggerEvent"`
	Payload      *webhookPayload `json:"payload"`
}

// webhookPayload is the part of the payload read. Title, description,
// responses, location and cancellationReason are free text that can name a
// clinical cause, and attendee emails are left out as for fetched bookings
// (fhir.go): only names, times and ids come through.
type webhookPayload struct {
	UID            string  `json:"uid"`
	Status         string  `json:"status"`
	StartTime      string  `json:"startTime"`
	EndTime        string  `json:"endTime"`
	EventTypeID    float64 `json:"eventTypeId"`
	RescheduleUID  string  `json:"rescheduleUid"`
	FromReschedule string  `json:"fromReschedule"`
	Attendees      []struct {
		Name string `json:"name"`
	} `json:"attendees"`
	Organizer *struct {
		Name string `json:"name"`
	} `json:"organizer"`
	Metadata json.RawMessage `json:"metadata"`
}

// AppointmentFromWebhook maps a Cal.com webhook body (its signature already
// verified) to an Appointment, exactly as AppointmentFromBooking maps a
// fetched booking: status, start, end, serviceType, the attendees as
// Patient participants and the organizer as a Practitioner participant, by
// display, and the booking uid as identifier BookingSystem. A reschedule
// adds the moved booking's uid as a second identifier of that system with
// use "old", so that the Appointment both finds the EHR's record and
// carries the uid now current (first, which is what BookingUID reads).
// BOOKING_CANCELLED is status cancelled whatever the payload's status; the
// free-text cancellationReason is not copied.
func AppointmentFromWebhook(body []byte) (WebhookEvent, error) {
	var w webhookBody
	if err := json.Unmarshal(body, &w); err != nil || w.TriggerEvent == "" || w.Payload == nil {
		return WebhookEvent{}, ErrNotWebhook
	}
	ev := WebhookEvent{Trigger: w.TriggerEvent, Interaction: InteractionUpdate}
	switch w.TriggerEvent {
	case TriggerCreated:
		ev.Interaction = InteractionCreate
	case TriggerRescheduled, TriggerCancelled:
	default:
		return WebhookEvent{}, ErrIgnored
	}
	p := w.Payload
	if ev.UID = p.UID; ev.UID == "" {
		return WebhookEvent{}, ErrNoUID
	}
	if w.TriggerEvent == TriggerRescheduled {
		ev.PreviousUID = p.RescheduleUID
		if ev.PreviousUID == "" {
			ev.PreviousUID = p.FromReschedule
		}
		if ev.PreviousUID == "" || ev.PreviousUID == ev.UID {
			return WebhookEvent{}, ErrNoOldUID
		}
	}
	ev.Origin, ev.AppointmentID, ev.TransferID = hubMetadata(p.Metadata)

	b := Booking{UID: p.UID, Start: p.StartTime, End: p.EndTime, EventTypeID: p.EventTypeID}
	switch {
	case w.TriggerEvent == TriggerCancelled:
		b.Status = "cancelled"
	case p.Status == "":
		b.Status = "accepted"
	default:
		b.Status = strings.ToLower(p.Status)
	}
	for _, a := range p.Attendees {
		b.Attendees = append(b.Attendees, struct {
			Name string `json:"name"`
		}{a.Name})
	}
	if p.Organizer != nil {
		b.Hosts = append(b.Hosts, struct {
			Name string `json:"name"`
		}{p.Organizer.Name})
	}
	if !validInstant(b.Start) || !validInstant(b.End) {
		return WebhookEvent{}, ErrWebhookTime
	}
	appt, err := AppointmentFromBooking(b)
	if err != nil {
		return WebhookEvent{}, err
	}
	if ev.PreviousUID != "" {
		var a map[string]any
		if err := json.Unmarshal(appt, &a); err != nil {
			return WebhookEvent{}, err // our own output: cannot happen
		}
		ids, _ := a["identifier"].([]any)
		a["identifier"] = append(ids, map[string]any{"use": "old", "system": BookingSystem, "value": ev.PreviousUID})
		appt = canonical(a)
	}
	ev.Appointment = appt
	return ev, nil
}

func validInstant(s string) bool {
	_, err := time.Parse(time.RFC3339, s)
	return err == nil
}

// hubMetadata reads the hub's keys from the booking metadata. Cal.com lets
// metadata hold any JSON (it adds videoCallUrl itself): only string values
// of the hub's keys are read, nothing else is kept.
func hubMetadata(raw json.RawMessage) (origin, appointmentID, transfer string) {
	var m map[string]json.RawMessage
	if len(raw) == 0 || json.Unmarshal(raw, &m) != nil {
		return "", "", ""
	}
	str := func(k string) string {
		var s string
		if v, ok := m[k]; ok && json.Unmarshal(v, &s) == nil {
			return s
		}
		return ""
	}
	return str(MetaOrigin), str(MetaAppointmentID), str(MetaTransfer)
}
