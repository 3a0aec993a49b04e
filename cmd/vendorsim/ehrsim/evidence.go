package ehrsim

import (
	"maps"
	"net/http"
	"sync"
	"time"
)

// Effect says what one FHIR request did at the sandbox.
type Effect string

// The effects a request log row can carry.
const (
	EffectCreated  Effect = "created"  // a new resource (create, conditional create miss, upsert of a new id)
	EffectUpdated  Effect = "updated"  // a new version of an existing resource
	EffectMatched  Effect = "matched"  // a conditional create found the resource; nothing was written
	EffectReplayed Effect = "replayed" // an Idempotency-Key replay; nothing was written
	EffectRejected Effect = "rejected" // an error answer, injected or not; nothing was written
	EffectRead     Effect = "read"     // read, vread or metadata
	EffectSearch   Effect = "search"   // a search
)

// changes reports whether the effect wrote data.
func (e Effect) changes() bool { return e == EffectCreated || e == EffectUpdated }

// LogEntry is one FHIR request as the sandbox saw it. It holds no body and no
// query string: both carry PHI.
type LogEntry struct {
	Time           time.Time `json:"time"`
	Method         string    `json:"method"`
	Path           string    `json:"path"`
	IdempotencyKey string    `json:"idempotency_key"`
	Status         int       `json:"status"`
	Effect         Effect    `json:"effect"`
	// ID is the resource id the request created, changed or matched.
	ID string `json:"id,omitempty"`
}

// Log is the evidence served at GET /_sandbox/log.
type Log struct {
	Requests []LogEntry `json:"requests"`
	// Effects counts created and updated rows since the last reset.
	Effects int `json:"effects"`
	// DuplicateEffects counts idempotency keys that caused more than one
	// created or updated effect: zero unless the keys are being ignored
	// (Options.IgnoreIdempotencyKeys) or the sandbox is broken.
	DuplicateEffects int `json:"duplicate_effects"`
	// Dropped counts the oldest rows discarded to stay under
	// Options.MaxLogEntries; the counters above still include them.
	Dropped int `json:"dropped,omitempty"`
	// ByKey counts created and updated effects per idempotency key; served
	// only with ?by_key=1.
	ByKey map[string]int `json:"by_key,omitempty"`
}

// requestLog collects the evidence. Its counters are exact even when old rows
// are dropped.
type requestLog struct {
	mu      sync.Mutex
	max     int
	entries []LogEntry
	dropped int
	effects int
	byKey   map[string]int
	dups    int
	total   int64 // FHIR requests since start; not reset
}

func newRequestLog(limit int) *requestLog {
	return &requestLog{max: limit, byKey: map[string]int{}}
}

func (l *requestLog) add(e LogEntry) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total++
	if len(l.entries) >= l.max {
		n := l.max/10 + 1
		l.entries = append(l.entries[:0], l.entries[n:]...)
		l.dropped += n
	}
	l.entries = append(l.entries, e)
	if e.Effect.changes() {
		l.effects++
		if e.IdempotencyKey != "" {
			l.byKey[e.IdempotencyKey]++
			if l.byKey[e.IdempotencyKey] == 2 {
				l.dups++
			}
		}
	}
}

func (l *requestLog) snapshot(byKey bool) Log {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := Log{
		Requests:         append(make([]LogEntry, 0, len(l.entries)), l.entries...),
		Effects:          l.effects,
		DuplicateEffects: l.dups,
		Dropped:          l.dropped,
	}
	if byKey {
		out.ByKey = maps.Clone(l.byKey)
	}
	return out
}

func (l *requestLog) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entries, l.dropped, l.effects, l.dups = nil, 0, 0, 0
	l.byKey = map[string]int{}
}

// Stats are the small counters served at GET /_sandbox/stats.
type Stats struct {
	// Requests counts FHIR requests since start (a log reset does not clear it).
	Requests int64 `json:"requests"`
	// LogEntries and Effects are as in the current log.
	LogEntries int `json:"log_entries"`
	Effects    int `json:"effects"`
	// IdempotencyKeys counts keys remembered.
	IdempotencyKeys int `json:"idempotency_keys"`
	// Resources counts stored resources (current versions), also per type.
	Resources       int            `json:"resources"`
	ResourcesByType map[string]int `json:"resources_by_type"`
	// Versions counts stored versions of all resources.
	Versions int `json:"versions"`
	// DuplicateIdentifiers counts identifiers (type, system and value) held
	// by more than one resource: duplicate charts, which a client relying on
	// conditional create should never cause.
	DuplicateIdentifiers int       `json:"duplicate_identifiers"`
	Sink                 SinkStats `json:"sink"`
	Faults               Faults    `json:"faults"`
}

// Log returns the request log, as GET /_sandbox/log?by_key=1 would.
func (s *Server) Log() Log { return s.log.snapshot(true) }

// ResetLog clears the request log and its counters; data and idempotency
// keys stay.
func (s *Server) ResetLog() { s.log.reset() }

// Stats returns the counters served at GET /_sandbox/stats.
func (s *Server) Stats() Stats {
	s.log.mu.Lock()
	st := Stats{Requests: s.log.total, LogEntries: len(s.log.entries), Effects: s.log.effects}
	s.log.mu.Unlock()
	st.IdempotencyKeys = s.keys.len()
	ss := s.store.stats()
	st.Resources, st.ResourcesByType, st.Versions, st.DuplicateIdentifiers = ss.resources, ss.byType, ss.versions, ss.dupIdents
	st.Sink = s.sink.stats()
	st.Faults = s.faults.get()
	return st
}

func (s *Server) handleLog(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		writeJSON(w, http.StatusOK, s.log.snapshot(r.URL.Query().Get("by_key") == "1"))
	case http.MethodDelete:
		s.log.reset()
		w.WriteHeader(http.StatusNoContent)
	default:
		methodNotAllowed(w, "GET, DELETE")
	}
}

func (s *Server) handleStats(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		methodNotAllowed(w, "GET")
		return
	}
	writeJSON(w, http.StatusOK, s.Stats())
}
