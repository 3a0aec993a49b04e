package calsim

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/switchboard-health/switchboard/cmd/vendorsim/simlog"
)

// API versions the connector sends in cal-api-version; Cal.com serves other
// shapes under other versions, so the sandbox refuses them.
const (
	BookingsVersion = "2024-08-13"
	SlotsVersion    = "2024-09-04"
)

// Options configure a sandbox. The zero value is ready to use.
type Options struct {
	// APIKey is the only bearer token accepted when set; any non-empty
	// token is accepted otherwise.
	APIKey string
	// DefaultLengthMinutes is the length of a booking created without
	// lengthInMinutes and of a slot asked without duration: the sandbox
	// knows no event types. 30 when zero.
	DefaultLengthMinutes int
	// WorkdayStart and WorkdayEnd are the hours (0-24) between which slots
	// are offered, Monday to Friday, in Location; 9 and 17 when both are zero.
	WorkdayStart, WorkdayEnd int
	// Location is the host's time zone for the working hours; UTC when nil.
	Location *time.Location
	// Now is the clock (slots in the past are not offered); time.Now when nil.
	Now func() time.Time
	// MaxLogEntries caps the request log and the received writes (the oldest
	// are dropped, counters stay exact); 100000 when zero.
	MaxLogEntries int
	// WebhookURL, when set, receives a Cal.com webhook (BOOKING_CREATED,
	// BOOKING_RESCHEDULED, BOOKING_CANCELLED) for every booking created,
	// rescheduled or cancelled through the API, whoever called it, posted
	// asynchronously in the order the changes happened and retried a few
	// times on failure (webhooks.go). WebhookSecret signs it
	// (X-Cal-Signature-256); when empty the header is "no-secret-provided",
	// as Cal.com sends it. Call Server.Close to stop the sender.
	WebhookURL, WebhookSecret string
	// Logger receives one line per API request (method, path, status,
	// effect, duration; never a body or query). Nothing is logged when nil.
	Logger *slog.Logger
}

// Server is the Cal.com sandbox, an http.Handler safe for concurrent use.
//
// Routes (cal-api-version and a bearer token required on /v2/):
//
//	POST /v2/bookings                    create a booking (201)
//	GET  /v2/bookings?attendeeEmail=&attendeeName=&bookingUid=&eventTypeId=&eventTypeIds=
//	                 &afterStart=&beforeEnd=&status=&sortStart=&take=&skip=
//	                                     list bookings, paginated
//	GET  /v2/bookings/{uid}              read a booking
//	POST /v2/bookings/{uid}/reschedule   a new booking; the old one is cancelled (201)
//	POST /v2/bookings/{uid}/cancel       cancel a booking (200)
//	GET  /v2/slots?start=&end=&eventTypeId=&format=range&duration=&timeZone=
//	                                     free slots, deterministic
//	GET  /_sandbox/log                   the request log (Log)
//	GET  /_sandbox/webhooks              the webhook counters (WebhookStats)
//	POST /_sandbox/reset                 forget every booking and the log
type Server struct {
	opts   Options
	logger *slog.Logger
	store  *store
	ev     *simlog.Recorder
	hooks  *webhooks
}

// New returns a sandbox with no bookings.
func New(opts Options) *Server {
	if opts.DefaultLengthMinutes <= 0 {
		opts.DefaultLengthMinutes = 30
	}
	if opts.WorkdayStart == 0 && opts.WorkdayEnd == 0 {
		opts.WorkdayStart, opts.WorkdayEnd = 9, 17
	}
	opts.WorkdayStart = min(max(opts.WorkdayStart, 0), 24)
	opts.WorkdayEnd = min(max(opts.WorkdayEnd, opts.WorkdayStart), 24)
	if opts.Location == nil {
		opts.Location = time.UTC
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxLogEntries <= 0 {
		opts.MaxLogEntries = 100000
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{opts: opts, logger: logger, store: newStore(), ev: newEvidence(opts.MaxLogEntries)}
	if opts.WebhookURL != "" {
		s.hooks = newWebhooks(opts.WebhookURL, opts.WebhookSecret, logger)
	}
	return s
}

// Log returns the request log, as GET /_sandbox/log does.
func (s *Server) Log() Log { return s.ev.Snapshot() }

// Received returns every write request (create, reschedule, cancel) in the
// order received, with its decoded body. It is in memory and for tests only:
// the bodies hold PHI and are never served over HTTP.
func (s *Server) Received() []Received { return s.ev.Received() }

// Reset forgets every booking, the log and the received writes, as
// POST /_sandbox/reset does.
func (s *Server) Reset() {
	s.store.reset()
	s.ev.Reset()
}

// ServeHTTP routes a request to the API or the sandbox controls.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch p := r.URL.Path; {
	case p == "/v2/bookings" || strings.HasPrefix(p, "/v2/bookings/") || p == "/v2/slots":
		s.serveAPI(w, r)
	case p == "/_sandbox/log":
		if r.Method != http.MethodGet {
			methodNotAllowed(w, "GET")
			return
		}
		writeJSON(w, http.StatusOK, s.Log())
	case p == "/_sandbox/webhooks":
		if r.Method != http.MethodGet {
			methodNotAllowed(w, "GET")
			return
		}
		writeJSON(w, http.StatusOK, s.WebhookStats())
	case p == "/_sandbox/reset":
		if r.Method != http.MethodPost {
			methodNotAllowed(w, "POST")
			return
		}
		s.Reset()
		w.WriteHeader(http.StatusNoContent)
	default:
		writeJSON(w, http.StatusNotFound, calError(p, http.StatusNotFound, "NotFoundException",
			"not found: the sandbox serves /v2/bookings and /v2/slots, its controls under /_sandbox/"))
	}
}

// answer is one API response and what it did.
type answer struct {
	status int
	body   any
	effect Effect
	id     string
}

// maxBody bounds a request body; a booking is a few hundred bytes.
const maxBody = 1 << 20

func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	var a answer
	if err != nil {
		a = fail(r, http.StatusBadRequest, "BadRequestException", "the body could not be read")
	} else {
		a = s.route(r, body)
	}
	writeJSON(w, a.status, a.body)
	key := r.Header.Get("Idempotency-Key")
	s.ev.Add(LogEntry{Time: start.UTC(), Method: r.Method, Path: r.URL.Path, IdempotencyKey: key,
		Status: a.status, Effect: a.effect, ID: a.id}, r.Method == http.MethodPost, body)
	s.logger.LogAttrs(r.Context(), slog.LevelInfo, "calcom request",
		slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Int("status", a.status),
		slog.String("effect", string(a.effect)), slog.String("idempotency_key", key),
		slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000))
}

// route checks the credentials and the API version, then dispatches.
func (s *Server) route(r *http.Request, body []byte) answer {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || strings.TrimSpace(tok) == "" || (s.opts.APIKey != "" && tok != s.opts.APIKey) {
		return fail(r, http.StatusUnauthorized, "UnauthorizedException", "a valid API key is required as Authorization: Bearer <key>")
	}
	p := r.URL.Path
	want := BookingsVersion
	if p == "/v2/slots" {
		want = SlotsVersion
	}
	if v := r.Header.Get("cal-api-version"); v != want {
		// Cal.com serves an older shape without the header; the connector
		// parses only this one, so a wrong version is an error here.
		return fail(r, http.StatusBadRequest, "BadRequestException", "cal-api-version must be "+want+" for this endpoint")
	}
	rest, _ := strings.CutPrefix(p, "/v2/bookings")
	rest = strings.TrimPrefix(rest, "/")
	uid, action, _ := strings.Cut(rest, "/")
	switch {
	case p == "/v2/slots" && r.Method == http.MethodGet:
		return s.slots(r)
	case p == "/v2/slots":
		return notAllowed(r)
	case rest == "" && r.Method == http.MethodPost:
		return s.create(r, body)
	case rest == "" && r.Method == http.MethodGet:
		return s.list(r)
	case rest == "":
		return notAllowed(r)
	case action == "" && r.Method == http.MethodGet:
		return s.read(r, uid)
	case action == "reschedule" && r.Method == http.MethodPost:
		return s.reschedule(r, uid, body)
	case action == "cancel" && r.Method == http.MethodPost:
		return s.cancel(r, uid, body)
	case action == "" || action == "reschedule" || action == "cancel":
		return notAllowed(r)
	}
	return fail(r, http.StatusNotFound, "NotFoundException", "no such route")
}

// calError is Cal.com's error envelope; the connector reads error.code.
func calError(path string, status int, code, msg string) map[string]any {
	return map[string]any{
		"status":    "error",
		"timestamp": time.Now().UTC().Format(calTime),
		"path":      path,
		"error":     map[string]any{"code": code, "message": msg},
	}
}

func fail(r *http.Request, status int, code, msg string) answer {
	return answer{status: status, body: calError(r.URL.Path, status, code, msg), effect: EffectRejected}
}

func notAllowed(r *http.Request) answer {
	return fail(r, http.StatusMethodNotAllowed, "MethodNotAllowedException", "method not allowed")
}

func success(status int, data any, effect Effect, id string) answer {
	return answer{status: status, body: map[string]any{"status": "success", "data": data}, effect: effect, id: id}
}

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
