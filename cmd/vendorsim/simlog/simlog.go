// Package simlog is the evidence the vendor sandboxes keep (calsim,
// candidsim, hubsim): a request log served at GET /_sandbox/log, with no
// body and no query string (both carry PHI), counters of the writes each
// request made and of idempotency keys that made more than one, and, for
// tests in other packages only, the write requests' bodies in memory.
package simlog

import (
	"encoding/json"
	"sync"
	"time"
)

// Effect says what one API request did at a sandbox; each sandbox names
// its own (created, updated, cancelled, rejected, ...).
type Effect string

// Entry is one API request as the sandbox saw it. It holds no body and no
// query string.
type Entry struct {
	Time   time.Time `json:"time"`
	Method string    `json:"method"`
	Path   string    `json:"path"`
	// IdempotencyKey is the Idempotency-Key header as sent, kept to count
	// duplicate effects (the vendors themselves may ignore it).
	IdempotencyKey string `json:"idempotency_key,omitempty"`
	Status         int    `json:"status"`
	Effect         Effect `json:"effect"`
	// ID is the vendor record the request created, changed or read.
	ID string `json:"id,omitempty"`
}

// Log is the evidence served at GET /_sandbox/log.
type Log struct {
	Requests []Entry `json:"requests"`
	// Effects counts the requests that wrote since the last reset.
	Effects int `json:"effects"`
	// DuplicateEffects counts idempotency keys that caused more than one
	// effect: a client whose retry wrote twice. A correct hub keeps it at
	// zero.
	DuplicateEffects int `json:"duplicate_effects"`
	// Dropped counts the oldest rows discarded to stay under the limit;
	// the counters above still include them.
	Dropped int `json:"dropped,omitempty"`
}

// Received is one write request as the sandbox received it, body
// included. It is kept in memory for tests in other packages and never
// served over HTTP: the body is PHI.
type Received struct {
	Time           time.Time
	Method         string
	Path           string
	IdempotencyKey string
	Status         int
	Effect         Effect
	// ID is the record the request created or changed, "" on failure.
	ID string
	// Body is the JSON body decoded into generic values (numbers as
	// float64); nil when it was not a JSON object. Raw is the body as sent.
	Body map[string]any
	Raw  []byte
}

// Recorder collects the log rows and the received writes, safe for
// concurrent use. Its counters are exact even when old rows are dropped.
type Recorder struct {
	changes func(Effect) bool

	mu       sync.Mutex
	max      int
	entries  []Entry
	received []Received
	dropped  int
	effects  int
	byKey    map[string]int
	dups     int
}

// New keeps up to limit rows (100000 when zero); changes says which
// effects count as writes.
func New(limit int, changes func(Effect) bool) *Recorder {
	if limit <= 0 {
		limit = 100000
	}
	return &Recorder{changes: changes, max: limit, byKey: map[string]int{}}
}

// Add records a request; body goes to Received when write is set.
func (r *Recorder) Add(e Entry, write bool, body []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.entries) >= r.max {
		n := r.max/10 + 1
		r.entries = append(r.entries[:0], r.entries[n:]...)
		r.dropped += n
	}
	r.entries = append(r.entries, e)
	if write {
		if len(r.received) >= r.max {
			r.received = append(r.received[:0], r.received[r.max/10+1:]...)
		}
		rec := Received{Time: e.Time, Method: e.Method, Path: e.Path, IdempotencyKey: e.IdempotencyKey,
			Status: e.Status, Effect: e.Effect, ID: e.ID, Raw: append([]byte(nil), body...)}
		_ = json.Unmarshal(body, &rec.Body)
		r.received = append(r.received, rec)
	}
	if r.changes(e.Effect) {
		r.effects++
		if e.IdempotencyKey != "" {
			r.byKey[e.IdempotencyKey]++
			if r.byKey[e.IdempotencyKey] == 2 {
				r.dups++
			}
		}
	}
}

// Snapshot returns the log.
func (r *Recorder) Snapshot() Log {
	r.mu.Lock()
	defer r.mu.Unlock()
	return Log{
		Requests:         append(make([]Entry, 0, len(r.entries)), r.entries...),
		Effects:          r.effects,
		DuplicateEffects: r.dups,
		Dropped:          r.dropped,
	}
}

// Received returns the write requests kept.
func (r *Recorder) Received() []Received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Received(nil), r.received...)
}

// Reset forgets everything.
func (r *Recorder) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.entries, r.received, r.dropped, r.effects, r.dups = nil, nil, 0, 0, 0
	r.byKey = map[string]int{}
}
