package hubsim

import (
	"encoding/json"
	"sync"
	"time"
)

// Effect says what one API request did at the sandbox.
type Effect string

// The effects a request log row can carry.
const (
	EffectCreated   Effect = "created"   // an upsert made a new contact
	EffectUpdated   Effect = "updated"   // an upsert changed an existing contact's properties
	EffectUnchanged Effect = "unchanged" // an upsert matched a contact and changed nothing (a harmless repeat)
	EffectRejected  Effect = "rejected"  // an error answer; nothing was written
	EffectRead      Effect = "read"      // GET /crm/v3/objects/contacts/{id}
	EffectSearch    Effect = "search"    // POST /crm/v3/objects/contacts/search
)

// changes reports whether the effect wrote data.
func (e Effect) changes() bool { return e == EffectCreated || e == EffectUpdated }

// LogEntry is one API request as the sandbox saw it. It holds no body and no
// query string, and a read by email is logged under a placeholder path: all
// three carry PHI.
type LogEntry struct {
	Time   time.Time `json:"time"`
	Method string    `json:"method"`
	Path   string    `json:"path"`
	// IdempotencyKey is the Idempotency-Key header as sent. HubSpot ignores
	// it; the sandbox keeps it only to count duplicate effects.
	IdempotencyKey string `json:"idempotency_key,omitempty"`
	Status         int    `json:"status"`
	Effect         Effect `json:"effect"`
	// ID is the contact id the request created, changed or read (the
	// first of a batch).
	ID string `json:"id,omitempty"`
}

// Log is the evidence served at GET /_sandbox/log.
type Log struct {
	Requests []LogEntry `json:"requests"`
	// Effects counts created and updated rows since the last reset.
	Effects int `json:"effects"`
	// DuplicateEffects counts idempotency keys that caused more than one
	// effect. An upsert repeated unchanged is "unchanged", not an effect,
	// so a retried delivery keeps it at zero.
	DuplicateEffects int `json:"duplicate_effects"`
	// Dropped counts the oldest rows discarded to stay under
	// Options.MaxLogEntries; the counters above still include them.
	Dropped int `json:"dropped,omitempty"`
}

// Received is one batch upsert as the sandbox received it, body included. It is kept in memory for tests in other
// packages (Server.Received) and never served over HTTP: the body is PHI.
type Received struct {
	Time           time.Time
	Method         string
	Path           string
	IdempotencyKey string
	Status         int
	Effect         Effect
	// ID is the first contact id the upsert created or changed, "" on failure.
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
