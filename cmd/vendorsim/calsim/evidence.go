package calsim

import "github.com/switchboard-health/switchboard/cmd/vendorsim/simlog"

// Effect says what one API request did at the sandbox.
type Effect = simlog.Effect

// The effects a request log row can carry.
const (
	EffectCreated     Effect = "created"     // a new booking (POST /v2/bookings)
	EffectRescheduled Effect = "rescheduled" // a new booking replacing an old one, which is now cancelled
	EffectCancelled   Effect = "cancelled"   // a booking cancelled
	EffectRejected    Effect = "rejected"    // an error answer; nothing was written
	EffectRead        Effect = "read"        // GET /v2/bookings/{uid}
	EffectSearch      Effect = "search"      // GET /v2/bookings or GET /v2/slots
)

// changes reports whether the effect wrote data.
func changes(e Effect) bool {
	return e == EffectCreated || e == EffectRescheduled || e == EffectCancelled
}

// The evidence types are the sandboxes' shared ones (package simlog).
type (
	LogEntry = simlog.Entry
	Log      = simlog.Log
	Received = simlog.Received
)

func newEvidence(limit int) *simlog.Recorder { return simlog.New(limit, changes) }
