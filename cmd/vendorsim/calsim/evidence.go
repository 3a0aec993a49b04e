package calsim

import (
	"encoding/json"
	"sync"
	"time"
)

// Effect says what one API request did at the sandbox.
type Effect string

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
func (e Effect) changes() bool {
	return e == EffectCreated || e == EffectRescheduled || e == EffectCancelled
}

// LogEntry is one API request as the sandbox saw it. It holds no body and no
// query string: both carry PHI (attendee names and emails).
type LogEntry struct {
	Time   time.Time `json:"time"`
	Method string    `json:"method"`
	Path   string    `json:"path"`
	// IdempotencyKey is the Idempotency-Key header as sent. Cal.com ignores
	// it; the sandbox keeps it only to count duplicate effects.
	IdempotencyKey string `json:"idempotency_key,omitempty"`
	Status         int    `json:"status"`
	Effect         Effect `json:"effect"`
	// ID is the booking uid the request created, changed or read.
	ID string `json:"id,omitempty"`
}

// Log is the evidence served at GET /_sandbox/log.
type Log struct {
	Requests []LogEntry `json:"requests"`
	// Effects counts created, rescheduled and cancelled rows since the last
	// reset.
	Effects int `json:"effects"`
	// DuplicateEffects counts idempotency keys that caused more than one
	// effect: a client whose retry booked twice. A correct hub keeps it at
	// zero even though Cal.com itself ignores the key.
	DuplicateEffects int `json:"duplicate_effects"`
	// Dropped counts the oldest rows discarded to stay under
	// Options.MaxLogEntries; the counters above still include them.
	Dropped int `json:"dropped,omitempty"`
}

// Received is one write request (create, reschedule, cancel) as the sandbox
// received it, body included. It is kept in memory for tests in other
// packages (Server.Received) and never served over HTTP: the body is PHI.
type Received struct {
	Time           time.Time
	Method         string
	Path           string
	IdempotencyKey string
	Status         int
	Effect         Effect
	// ID is the booking uid the request created or changed, "" on failure.
	ID string
	// Body is the JSON body decoded into generic values (numbers as
	// float64); nil when it was not a JSON object. Raw is the body as sent.
	Body map[string]any
	Raw  []byte
}

// evidence collects the log rows and the received writes. Its counters are
// exact even when old rows are dropped.
type evidence struct {
	mu       sync.Mutex
	max      int
	entries  []LogEntry
	received []Received
	dropped  int
	effects  int
	byKey    map[string]int
	dups     int
}

func newEvidence(limit int) *evidence { return &evidence{max: limit, byKey: map[string]int{}} }

// add records a request; body is recorded in Received when write is set.
func (ev *evidence) add(e LogEntry, write bool, body []byte) {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	if len(ev.entries) >= ev.max {
		n := ev.max/10 + 1
		ev.entries = append(ev.entries[:0], ev.entries[n:]...)
		ev.dropped += n
	}
	ev.entries = append(ev.entries, e)
	if write {
		if len(ev.received) >= ev.max {
			ev.received = append(ev.received[:0], ev.received[ev.max/10+1:]...)
		}
		rec := Received{Time: e.Time, Method: e.Method, Path: e.Path, IdempotencyKey: e.IdempotencyKey,
			Status: e.Status, Effect: e.Effect, ID: e.ID, Raw: append([]byte(nil), body...)}
		_ = json.Unmarshal(body, &rec.Body)
		ev.received = append(ev.received, rec)
	}
	if e.Effect.changes() {
		ev.effects++
		if e.IdempotencyKey != "" {
			ev.byKey[e.IdempotencyKey]++
			if ev.byKey[e.IdempotencyKey] == 2 {
				ev.dups++
			}
		}
	}
}

func (ev *evidence) snapshot() Log {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	return Log{
		Requests:         append(make([]LogEntry, 0, len(ev.entries)), ev.entries...),
		Effects:          ev.effects,
		DuplicateEffects: ev.dups,
		Dropped:          ev.dropped,
	}
}

func (ev *evidence) receivedCopy() []Received {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	return append([]Received(nil), ev.received...)
}

func (ev *evidence) reset() {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	ev.entries, ev.received, ev.dropped, ev.effects, ev.dups = nil, nil, 0, 0, 0
	ev.byKey = map[string]int{}
}
