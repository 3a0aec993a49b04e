package ehrsim

import (
	"hash/maphash"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
)

// sinkShards spreads the distinct-key set over independent locks so that
// benchmark workers do not queue on one mutex.
const sinkShards = 64

// sink answers POST /sink/... at once and counts: a vendor with no logic, for
// measuring the hub rather than the sandbox.
type sink struct {
	requests atomic.Int64
	ids      atomic.Uint64
	seed     maphash.Seed
	shards   [sinkShards]sinkShard
}

type sinkShard struct {
	mu   sync.Mutex
	keys map[string]struct{}
	_    [40]byte // keep shards on separate cache lines
}

// SinkStats is served at GET /_sandbox/sink.
type SinkStats struct {
	Requests     int64 `json:"requests"`
	DistinctKeys int   `json:"distinct_keys"`
}

func newSink() *sink {
	s := &sink{seed: maphash.MakeSeed()}
	for i := range s.shards {
		s.shards[i].keys = map[string]struct{}{}
	}
	return s
}

// jsonContentType is shared by every sink answer; net/http only reads it.
var jsonContentType = []string{"application/json"}

func (s *sink) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost && r.Method != http.MethodPut {
		methodNotAllowed(w, "POST, PUT")
		return
	}
	// Drain the body so the connection is reused.
	_, _ = io.Copy(io.Discard, r.Body)
	s.requests.Add(1)
	if v := r.Header["Idempotency-Key"]; len(v) > 0 && v[0] != "" {
		sh := &s.shards[maphash.String(s.seed, v[0])%sinkShards]
		sh.mu.Lock()
		sh.keys[v[0]] = struct{}{}
		sh.mu.Unlock()
	}
	var buf [48]byte
	b := append(buf[:0], `{"id":"sink-`...)
	b = strconv.AppendUint(b, s.ids.Add(1), 16)
	b = append(b, `"}`...)
	w.Header()["Content-Type"] = jsonContentType
	_, _ = w.Write(b)
}

func (s *sink) stats() SinkStats {
	st := SinkStats{Requests: s.requests.Load()}
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		st.DistinctKeys += len(sh.keys)
		sh.mu.Unlock()
	}
	return st
}

func (s *sink) reset() {
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		sh.keys = map[string]struct{}{}
		sh.mu.Unlock()
	}
	s.requests.Store(0)
}

func (s *Server) handleSinkStats(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		writeJSON(w, http.StatusOK, s.sink.stats())
	case http.MethodDelete:
		s.sink.reset()
		w.WriteHeader(http.StatusNoContent)
	default:
		methodNotAllowed(w, "GET, DELETE")
	}
}
