// Package calsim is a local, in-memory sandbox standing in for Cal.com's API
// v2, limited to what connectors/calcom calls. It serves `make run` (through
// cmd/vendorsim -calcom-addr) and tests, which start it in-process:
//
//	sim := calsim.New(calsim.Options{})
//	cal := httptest.NewServer(sim)
//	defer cal.Close()
//	// base_url: cal.URL
//
// # What it imitates
//
//   - POST /v2/bookings creates a booking (201, {"status":"success","data":
//     booking}) with a fresh uid, status accepted, the attendee, metadata
//     and end = start + lengthInMinutes (else Options.DefaultLengthMinutes);
//   - POST /v2/bookings/{uid}/reschedule makes a NEW booking with a new uid
//     (rescheduledFromUid, createdAt now) at the new start and cancels the
//     old one (status cancelled, rescheduledToUid, updatedAt now), both
//     with the input's rescheduledBy as rescheduledByEmail, answering the
//     new booking; a booking already cancelled or rescheduled answers 400;
//   - POST /v2/bookings/{uid}/cancel cancels (200, cancelledByEmail the API
//     key's user, HostEmail); again answers 400;
//   - GET /v2/bookings/{uid} reads one booking, 404 when unknown;
//   - GET /v2/bookings lists bookings (attendeeEmail, attendeeName,
//     bookingUid, eventTypeId(s), afterStart, beforeEnd, status, sortStart,
//     take, skip) sorted by start, with Cal.com's pagination object;
//   - GET /v2/slots answers deterministic free slots: a grid of working
//     hours (Options) minus active bookings and the past.
//
// Every /v2/ request needs Authorization: Bearer <key> (Options.APIKey when
// set) and cal-api-version 2024-08-13 (bookings) or 2024-09-04 (slots), as the
// connector sends them; errors come in Cal.com's envelope
// {"status":"error","error":{"code":"BadRequestException","message":…}}.
// Like Cal.com, the sandbox ignores Idempotency-Key: a repeated create books
// twice, which is what the connector's look-up before a retried create
// (metadata.switchboard_transfer) exists to prevent.
//
// # Evidence
//
// GET /_sandbox/log lists every API request (time, method, path, status,
// effect, booking uid, Idempotency-Key as sent), never a body or a query
// string, since both carry PHI. "effects" counts created, rescheduled and
// cancelled rows; "duplicate_effects" counts idempotency keys that caused
// more than one of them, which a correct hub keeps at zero. Tests in other
// packages read what Cal.com received, bodies included, with
// Server.Received (in memory only). POST /_sandbox/reset forgets everything.
//
// # Webhooks
//
// With Options.WebhookURL set, every booking created, rescheduled or
// cancelled through the API (by anyone, the hub included, as Cal.com does)
// is POSTed there as Cal.com's webhook {"triggerEvent","createdAt",
// "payload"}: BOOKING_CREATED, BOOKING_RESCHEDULED (payload the new
// booking, rescheduleUid the old one's uid; no BOOKING_CANCELLED for the
// old one) and BOOKING_CANCELLED, with the booking's metadata copied into
// the payload and X-Cal-Signature-256 the hex HMAC-SHA256 of the body with
// Options.WebhookSecret. Delivery is asynchronous, one event at a time in
// the order of the changes, retried a few times with a short backoff; an
// API call never waits for it. GET /_sandbox/webhooks counts the events
// queued, sent, failed, retried and pending.
//
// # What it does not do
//
// No event types (any positive eventTypeId is accepted), no availability
// check on create (slots do exclude booked times), no seats, recurring or
// instant bookings, no webhook triggers but the three above, no OAuth clients. Everything is lost on exit.
package calsim
