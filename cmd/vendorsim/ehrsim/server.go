package ehrsim

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// Options configure a sandbox. The zero value is ready to use.
type Options struct {
	// BasePath is where the FHIR R4 API is served; "/fhir/R4" when empty.
	BasePath string
	// Latency is added to every FHIR request from the start, as
	// POST /_sandbox/faults {"latency_ms": ...} would add it later.
	Latency time.Duration
	// IgnoreIdempotencyKeys plays an EHR that does not honour
	// Idempotency-Key (most real ones): every write takes effect, and the
	// log's duplicate_effects shows how often a client's retry doubled one.
	IgnoreIdempotencyKeys bool
	// IdempotencyWait bounds how long a request waits for an in-flight
	// request with the same key before answering 409; 30s when zero.
	IdempotencyWait time.Duration
	// MaxLogEntries caps the request log's rows (the oldest are dropped,
	// counters stay exact); 100000 when zero.
	MaxLogEntries int
	// Logger receives one line per FHIR request (method, path, status,
	// effect, duration; never a body or query). Nothing is logged when nil.
	Logger *slog.Logger
}

// Server is the EHR sandbox. It is an http.Handler serving the FHIR API at
// Options.BasePath, the sandbox controls under /_sandbox/ and the benchmark
// sink under /sink/.
//
// Routes:
//
//	GET    {base}/metadata                      CapabilityStatement
//	POST   {base}/{type}                        create; conditional with If-None-Exist
//	PUT    {base}/{type}/{id}                   update or create (upsert); If-Match honoured
//	GET    {base}/{type}/{id}                   read
//	GET    {base}/{type}/{id}/_history/{vid}    vread
//	GET    {base}/{type}?identifier=&_lastUpdated=&_id=&patient=&subject=&_count=
//	                                            search; next links carry _page
//	GET    /_sandbox/log[?by_key=1]             the request log (Log)
//	DELETE /_sandbox/log                        reset the log, keep the data
//	GET    /_sandbox/stats                      counters (Stats)
//	GET|POST|DELETE /_sandbox/faults            read, patch or clear Faults
//	POST|PUT /sink/...                          benchmark sink: 200 {"id":"..."}
//	GET|DELETE /_sandbox/sink                   sink counters (SinkStats), reset
type Server struct {
	opts   Options
	base   string
	logger *slog.Logger
	store  *store
	keys   *keyTable
	log    *requestLog
	faults *faultState
	sink   *sink
}

// New returns a sandbox with an empty store.
func New(opts Options) *Server {
	if opts.BasePath == "" {
		opts.BasePath = "/fhir/R4"
	}
	opts.BasePath = "/" + strings.Trim(opts.BasePath, "/")
	if opts.IdempotencyWait <= 0 {
		opts.IdempotencyWait = 30 * time.Second
	}
	if opts.MaxLogEntries <= 0 {
		opts.MaxLogEntries = 100000
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		opts:   opts,
		base:   opts.BasePath,
		logger: logger,
		store:  newStore(time.Now),
		keys:   &keyTable{m: map[string]*keyEntry{}},
		log:    newRequestLog(opts.MaxLogEntries),
		faults: &faultState{},
		sink:   newSink(),
	}
	s.faults.set(Faults{LatencyMS: int(opts.Latency / time.Millisecond)})
	return s
}

// BasePath is the path the FHIR API is served at, e.g. "/fhir/R4".
func (s *Server) BasePath() string { return s.base }

// SetFaults replaces the fault settings, as POST /_sandbox/faults with every
// field would.
func (s *Server) SetFaults(f Faults) error {
	if err := f.validate(); err != nil {
		return err
	}
	s.faults.set(f)
	return nil
}

// ServeHTTP routes a request to the FHIR API, the sandbox controls or the sink.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case p == "/sink" || strings.HasPrefix(p, "/sink/"):
		if s.logger.Enabled(r.Context(), slog.LevelDebug) {
			start := time.Now()
			s.sink.serveHTTP(w, r)
			s.logger.LogAttrs(r.Context(), slog.LevelDebug, "sink request", slog.String("method", r.Method),
				slog.String("path", p), slog.Float64("duration_ms", ms(time.Since(start))))
			return
		}
		s.sink.serveHTTP(w, r)
	case p == s.base || strings.HasPrefix(p, s.base+"/"):
		s.serveFHIR(w, r)
	case p == "/_sandbox/log":
		s.handleLog(w, r)
	case p == "/_sandbox/stats":
		s.handleStats(w, r)
	case p == "/_sandbox/faults":
		s.handleFaults(w, r)
	case p == "/_sandbox/sink":
		s.handleSinkStats(w, r)
	default:
		writeJSON(w, http.StatusNotFound, map[string]string{
			"error": "not found: the EHR is at " + s.base + ", the sandbox controls under /_sandbox/"})
	}
}

// answer is a FHIR response. Answers stored under an Idempotency-Key are
// shared between requests and never mutated.
type answer struct {
	status       int
	body         []byte
	location     string
	etag         string
	lastModified string
	retryAfter   string
	effect       Effect
	id           string
	replayed     bool
}

// statusClientGone is logged (never sent) when the client left during the
// injected latency, nginx's convention.
const statusClientGone = 499

// statusReset is logged (never sent) for a write whose answer the sandbox
// cut off mid-body in mode "reset"; the write took effect.
const statusReset = 599

func (s *Server) serveFHIR(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	key := r.Header.Get("Idempotency-Key")
	a := s.fhir(w, r, key)
	switch {
	case a == nil:
		a = &answer{status: statusClientGone, effect: EffectRejected}
	case a.status < 300 && (r.Method == http.MethodPost || r.Method == http.MethodPut) && s.faults.mode() == ModeReset &&
		resetMidBody(w, a):
		cut := *a // answers kept under a key are shared: log a copy
		cut.status = statusReset
		a = &cut
	default:
		writeAnswer(w, a)
	}
	s.log.add(LogEntry{
		Time: start.UTC(), Method: r.Method, Path: r.URL.Path, IdempotencyKey: key,
		Status: a.status, Effect: a.effect, ID: a.id,
	})
	s.logger.LogAttrs(r.Context(), slog.LevelInfo, "fhir request",
		slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Int("status", a.status),
		slog.String("effect", string(a.effect)), slog.String("idempotency_key", key),
		slog.Float64("duration_ms", ms(time.Since(start))))
}

func writeAnswer(w http.ResponseWriter, a *answer) {
	h := w.Header()
	if len(a.body) > 0 {
		h.Set("Content-Type", "application/fhir+json; charset=utf-8")
	}
	for _, kv := range [][2]string{{"Location", a.location}, {"ETag", a.etag}, {"Last-Modified", a.lastModified}, {"Retry-After", a.retryAfter}} {
		if kv[1] != "" {
			h.Set(kv[0], kv[1])
		}
	}
	if a.replayed {
		h.Set("Idempotent-Replayed", "true")
	}
	w.WriteHeader(a.status)
	_, _ = w.Write(a.body)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "encode: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func methodNotAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "method not allowed; allowed: " + allow})
}

// drain reads what is left of a body so the connection can be reused.
func drain(r *http.Request) { _, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20)) }
