// Package calcom maps FHIR R4 to Cal.com API v2 (bookings 2024-08-13,
// slots 2024-09-04) and back. It is pure: no I/O.
//
// An Appointment becomes a create-booking body:
//
//	start            Appointment.start in UTC (ISO 8601)
//	lengthInMinutes  end - start, else minutesDuration, else omitted (the event type's length)
//	eventTypeId      serviceType coding with system https://cal.com/event-type, else Options.DefaultEventTypeID
//	attendee.name    the Patient participant's official (else first) name
//	attendee.email   the Patient's first email (Cal.com needs one to send the invitation)
//	attendee.timeZone  the Patient's tz-code extension, else Options.DefaultTimeZone
//	attendee.language  the Patient's preferred communication language, when Cal.com knows it
//	metadata         fhir_appointment_id, switchboard_transfer, switchboard_origin: ids only
//
// The Patient is a contained resource (participant.actor.reference "#id") or
// one of the related resources of the same transaction, keyed by the
// reference as written ("urn:uuid:…", "Patient/123").
//
// Nothing clinical goes to Cal.com: no reasonCode, reasonReference,
// description, comment or patientInstruction, and no phone number or birth
// date. A booking is seen by hosts, calendars and e-mail invitations outside
// the clinical record, so it carries only what is needed to meet.
//
// An Appointment already booked carries the booking uid as an identifier with
// system https://switchboard.health/id/calcom-booking (BookingSystem); such an
// Appointment is cancelled (status cancelled) or rescheduled (new start)
// instead, with generic reasons that say nothing about the patient. A
// reschedule names Options.RescheduledBy (the hub's Cal.com user) as
// rescheduledBy when it is set.
package calcom

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	fhirjson "github.com/switchboard-health/switchboard/mappings/fhir"
)

// Identifier systems and extensions this mapping reads and writes.
const (
	// BookingSystem is the FHIR identifier system of a Cal.com booking uid.
	BookingSystem = "https://switchboard.health/id/calcom-booking"
	// EventTypeSystem is the coding system of a Cal.com event type id in
	// Appointment.serviceType.
	EventTypeSystem = "https://cal.com/event-type"
	// TimeZoneExtension is HL7's tz-code extension (an IANA time zone as
	// valueCode), read on the Patient for the attendee's time zone.
	TimeZoneExtension = "http://hl7.org/fhir/StructureDefinition/tz-code"
	// OriginCode tags FHIR made from Cal.com data (meta.tag, system
	// fhirjson.OriginSystem), so that it is not sent back to Cal.com
	// (docs/decisions/0007-reconcilers-and-loops.md).
	OriginCode = "calcom"
)

// Generic reasons sent on reschedule and cancel: the Appointment's own
// cancelationReason can name a clinical cause, so it is never copied.
const (
	// RescheduleReason is the reschedulingReason of every reschedule.
	RescheduleReason = "Rescheduled through Switchboard"
	// CancelReason is the cancellationReason of every cancellation.
	CancelReason = "Cancelled through Switchboard"
)

// Options are the connector's defaults and the delivery's ids.
type Options struct {
	// DefaultEventTypeID is used when the Appointment names no event type; 0 for none.
	DefaultEventTypeID int64
	// DefaultTimeZone is used when the Patient has no tz-code extension.
	DefaultTimeZone string
	// TransferID is the hub's transfer id, stored in the booking's metadata.
	TransferID string
	// RescheduledBy is the email sent as rescheduledBy on a reschedule (the
	// Cal.com user whose API key the hub uses); "" sends none. Cal.com
	// records it as the new booking's rescheduledByEmail, which tells the
	// hub's own reschedules from the attendee's.
	RescheduledBy string
}

// Action is what a delivery does at Cal.com.
type Action string

const (
	// Create is POST /v2/bookings.
	Create Action = "create"
	// Reschedule is POST /v2/bookings/{uid}/reschedule.
	Reschedule Action = "reschedule"
	// Cancel is POST /v2/bookings/{uid}/cancel.
	Cancel Action = "cancel"
)

// Plan is one request to Cal.com: the action, the booking uid it applies to
// ("" on create) and the JSON body (keys sorted).
type Plan struct {
	Action Action
	UID    string
	Body   []byte
	// Start is the requested start in UTC, to compare with the booking's.
	Start time.Time
	// Email is the attendee's email on create (PHI: a query value only,
	// never logged), to find a booking an earlier attempt made.
	Email string
}

// CreateBooking is the body of POST /v2/bookings.
type CreateBooking struct {
	Start           string            `json:"start"`
	LengthInMinutes int64             `json:"lengthInMinutes,omitempty"`
	EventTypeID     int64             `json:"eventTypeId"`
	Attendee        Attendee          `json:"attendee"`
	Metadata        map[string]string `json:"metadata,omitempty"`
}

// Attendee is Cal.com's CreateBookingAttendee.
type Attendee struct {
	Name     string `json:"name"`
	Email    string `json:"email"`
	TimeZone string `json:"timeZone"`
	Language string `json:"language,omitempty"`
}

// RescheduleBooking is the body of POST /v2/bookings/{uid}/reschedule.
type RescheduleBooking struct {
	Start              string `json:"start"`
	RescheduledBy      string `json:"rescheduledBy,omitempty"`
	ReschedulingReason string `json:"reschedulingReason"`
}

// CancelBooking is the body of POST /v2/bookings/{uid}/cancel.
type CancelBooking struct {
	CancellationReason string `json:"cancellationReason"`
}

// Errors the connector branches on. None holds PHI.
var (
	ErrNotAppointment = errors.New("calcom mapping: the resource is not an Appointment")
	ErrNoStart        = errors.New("calcom mapping: Appointment.start is missing or not an instant")
	ErrEndBeforeStart = errors.New("calcom mapping: Appointment.end is not after Appointment.start")
	ErrNoEventType    = errors.New("calcom mapping: no Cal.com event type (serviceType coding " + EventTypeSystem + " or the destination's event_type_id)")
	ErrNoPatient      = errors.New("calcom mapping: no Patient participant found in contained or related resources")
	ErrNoName         = errors.New("calcom mapping: the Patient has no name")
	ErrNoEmail        = errors.New("calcom mapping: the Patient has no email")
	ErrNoTimeZone     = errors.New("calcom mapping: no time zone (Patient tz-code extension or the destination's time_zone)")
	ErrNoBooking      = errors.New("calcom mapping: a cancelled Appointment has no Cal.com booking to cancel")
)

type appointment struct {
	ResourceType    string            `json:"resourceType"`
	ID              string            `json:"id"`
	Status          string            `json:"status"`
	Identifier      []identifier      `json:"identifier"`
	ServiceType     []codeableConcept `json:"serviceType"`
	Start           string            `json:"start"`
	End             string            `json:"end"`
	MinutesDuration int64             `json:"minutesDuration"`
	Participant     []struct {
		Actor struct {
			Reference string `json:"reference"`
		} `json:"actor"`
	} `json:"participant"`
	Contained []json.RawMessage `json:"contained"`
}

type identifier struct {
	System string `json:"system"`
	Value  string `json:"value"`
}

type codeableConcept struct {
	Coding []struct {
		System string `json:"system"`
		Code   string `json:"code"`
	} `json:"coding"`
}

type humanName struct {
	Use    string   `json:"use"`
	Text   string   `json:"text"`
	Family string   `json:"family"`
	Given  []string `json:"given"`
}

type patient struct {
	ResourceType string      `json:"resourceType"`
	ID           string      `json:"id"`
	Name         []humanName `json:"name"`
	Telecom      []struct {
		System string `json:"system"`
		Value  string `json:"value"`
	} `json:"telecom"`
	Extension []struct {
		URL       string `json:"url"`
		ValueCode string `json:"valueCode"`
	} `json:"extension"`
	Communication []struct {
		Language  codeableConcept `json:"language"`
		Preferred bool            `json:"preferred"`
	} `json:"communication"`
}

// PlanDelivery decides what an Appointment does at Cal.com and builds the
// body: cancel when it carries a booking uid and is cancelled, reschedule
// when it carries one otherwise, create when it carries none.
func PlanDelivery(resource []byte, related map[string][]byte, o Options) (Plan, error) {
	a, err := readAppointment(resource)
	if err != nil {
		return Plan{}, err
	}
	uid := bookingUID(a)
	switch {
	case uid != "" && a.Status == "cancelled":
		return Plan{Action: Cancel, UID: uid, Body: canonical(CancelBooking{CancellationReason: CancelReason})}, nil
	case a.Status == "cancelled":
		return Plan{}, ErrNoBooking
	case uid != "":
		start, _, err := period(a)
		if err != nil {
			return Plan{}, err
		}
		return Plan{Action: Reschedule, UID: uid, Start: start,
			Body: canonical(RescheduleBooking{Start: instant(start), RescheduledBy: o.RescheduledBy, ReschedulingReason: RescheduleReason})}, nil
	}
	b, start, err := booking(a, related, o)
	if err != nil {
		return Plan{}, err
	}
	return Plan{Action: Create, Body: canonical(b), Start: start, Email: b.Attendee.Email}, nil
}

// BookingUID returns the Cal.com booking uid the Appointment carries, or "".
func BookingUID(resource []byte) string {
	a, err := readAppointment(resource)
	if err != nil {
		return ""
	}
	return bookingUID(a)
}

func bookingUID(a appointment) string {
	for _, id := range a.Identifier {
		if id.System == BookingSystem && id.Value != "" {
			return id.Value
		}
	}
	return ""
}

func readAppointment(resource []byte) (appointment, error) {
	var a appointment
	if err := json.Unmarshal(resource, &a); err != nil || a.ResourceType != "Appointment" {
		return appointment{}, ErrNotAppointment
	}
	return a, nil
}

// period is the Appointment's start and its end (zero when not given).
func period(a appointment) (start, end time.Time, err error) {
	start, err = time.Parse(time.RFC3339, a.Start)
	if err != nil {
		return time.Time{}, time.Time{}, ErrNoStart
	}
	if a.End != "" {
		end, err = time.Parse(time.RFC3339, a.End)
		if err != nil || !end.After(start) {
			return time.Time{}, time.Time{}, ErrEndBeforeStart
		}
	}
	return start, end, nil
}

func booking(a appointment, related map[string][]byte, o Options) (CreateBooking, time.Time, error) {
	start, end, err := period(a)
	if err != nil {
		return CreateBooking{}, time.Time{}, err
	}
	b := CreateBooking{Start: instant(start), EventTypeID: eventType(a, o.DefaultEventTypeID)}
	switch {
	case !end.IsZero():
		b.LengthInMinutes = int64(end.Sub(start) / time.Minute)
	case a.MinutesDuration > 0:
		b.LengthInMinutes = a.MinutesDuration
	}
	if b.EventTypeID <= 0 {
		return CreateBooking{}, time.Time{}, ErrNoEventType
	}
	p, ok := findPatient(a, related)
	if !ok {
		return CreateBooking{}, time.Time{}, ErrNoPatient
	}
	if b.Attendee.Name = name(p); b.Attendee.Name == "" {
		return CreateBooking{}, time.Time{}, ErrNoName
	}
	for _, t := range p.Telecom {
		if t.System == "email" && strings.TrimSpace(t.Value) != "" {
			b.Attendee.Email = strings.TrimSpace(t.Value)
			break
		}
	}
	if b.Attendee.Email == "" {
		return CreateBooking{}, time.Time{}, ErrNoEmail
	}
	b.Attendee.TimeZone = o.DefaultTimeZone
	for _, e := range p.Extension {
		if e.URL == TimeZoneExtension && e.ValueCode != "" {
			b.Attendee.TimeZone = e.ValueCode
			break
		}
	}
	if b.Attendee.TimeZone == "" {
		return CreateBooking{}, time.Time{}, ErrNoTimeZone
	}
	b.Attendee.Language = language(p)
	b.Metadata = map[string]string{"switchboard_origin": "switchboard"}
	if a.ID != "" {
		b.Metadata["fhir_appointment_id"] = "Appointment/" + a.ID
	}
	// Cal.com: at most 50 keys of up to 40 characters, string values up to 500.
	if o.TransferID != "" && len(o.TransferID) <= 500 {
		b.Metadata["switchboard_transfer"] = o.TransferID
	}
	return b, start, nil
}

func eventType(a appointment, def int64) int64 {
	for _, st := range a.ServiceType {
		for _, c := range st.Coding {
			if c.System == EventTypeSystem {
				if n, err := strconv.ParseInt(c.Code, 10, 64); err == nil && n > 0 {
					return n
				}
			}
		}
	}
	return def
}

// findPatient resolves the first participant whose actor is a Patient,
// contained ("#id") or related (the reference as written).
func findPatient(a appointment, related map[string][]byte) (patient, bool) {
	r := fhirjson.NewResolver(a.Contained, related)
	for _, part := range a.Participant {
		raw := r.Resolve(part.Actor.Reference)
		if raw == nil {
			continue
		}
		var p patient
		if json.Unmarshal(raw, &p) == nil && p.ResourceType == "Patient" {
			return p, true
		}
	}
	return patient{}, false
}

func name(p patient) string {
	pick := fhirjson.OfficialName(p.Name, func(n humanName) string { return n.Use })
	if pick < 0 {
		return ""
	}
	n := p.Name[pick]
	var parts []string
	for _, g := range n.Given {
		if g = strings.TrimSpace(g); g != "" {
			parts = append(parts, g)
		}
	}
	if f := strings.TrimSpace(n.Family); f != "" {
		parts = append(parts, f)
	}
	if len(parts) == 0 {
		return strings.TrimSpace(n.Text)
	}
	return strings.Join(parts, " ")
}

// calLanguages are the attendee languages Cal.com's spec accepts.
var calLanguages = map[string]bool{}

func init() {
	for _, l := range strings.Fields("ar ca de es eu he id ja lv pl ro sr th vi az cs el es-419 fi hr it km nl pt ru sv tr zh-CN bg da en et fr hu iw ko no pt-BR sk ta uk zh-TW bn") {
		calLanguages[l] = true
	}
}

// language is the preferred (else first) communication language as a
// Cal.com language: the BCP 47 code itself, else its primary subtag.
func language(p patient) string {
	var codes []string
	for _, c := range p.Communication {
		for _, cd := range c.Language.Coding {
			if c.Preferred {
				codes = append([]string{cd.Code}, codes...)
			} else {
				codes = append(codes, cd.Code)
			}
		}
	}
	for _, c := range codes {
		if calLanguages[c] {
			return c
		}
		if primary, _, _ := strings.Cut(c, "-"); calLanguages[primary] {
			return primary
		}
	}
	return ""
}

func instant(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

// canonical is v as compact JSON with object keys sorted, so that what is
// sent is byte for byte the golden file without its indentation.
func canonical(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("calcom mapping: %v", err)) // only plain structs are marshalled
	}
	var generic any
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	_ = dec.Decode(&generic)
	out, _ := json.Marshal(generic)
	return out
}
