package hubsim

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/switchboard-health/switchboard/cmd/vendorsim/simlog"
)

// Options configure a sandbox. The zero value is ready to use.
type Options struct {
	// Token is the only bearer token accepted when set; any non-empty token
	// is accepted otherwise.
	Token string
	// CustomProperties are the custom contact properties that exist in the
	// portal, besides HubSpot's standard ones. nil means
	// ["switchboard_fhir_id"], the one the hubspot connector writes by
	// default; an empty, non-nil slice means none, to show HubSpot's
	// VALIDATION_ERROR for a property never created.
	CustomProperties []string
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// MaxLogEntries caps the request log and the received writes (the oldest
	// are dropped, counters stay exact); 100000 when zero.
	MaxLogEntries int
	// Logger receives one line per API request (method, path, status,
	// effect, duration; never a body or query). Nothing is logged when nil.
	Logger *slog.Logger
}

// Server is the HubSpot CRM contacts sandbox, an http.Handler safe for
// concurrent use.
//
// Routes (a bearer token required on /crm/):
//
//	POST /crm/v3/objects/contacts/batch/upsert   upsert by idProperty email (200)
//	POST /crm/v3/objects/contacts/search         EQ filters, after/limit paging
//	GET  /crm/v3/objects/contacts/{id}[?idProperty=email&properties=…]
//	                                             read one contact
//	GET  /_sandbox/log                           the request log (Log)
//	POST /_sandbox/reset                         forget every contact and the log
type Server struct {
	opts   Options
	logger *slog.Logger
	store  *store
	ev     *simlog.Recorder
	known  map[string]bool // contact properties that exist in the portal
}

// standardProperties are HubSpot default contact properties a client may
// write; the read-only ones (hs_object_id, createdate, lastmodifieddate) are
// set by the sandbox.
var standardProperties = []string{"email", "firstname", "lastname", "phone", "mobilephone", "company", "website",
	"address", "city", "state", "zip", "country", "jobtitle", "lifecyclestage", "hs_lead_status", "date_of_birth"}

// New returns a sandbox with no contacts.
func New(opts Options) *Server {
	if opts.CustomProperties == nil {
		opts.CustomProperties = []string{"switchboard_fhir_id"}
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
	known := map[string]bool{}
	for _, p := range append(append([]string(nil), standardProperties...), opts.CustomProperties...) {
		known[p] = true
	}
	return &Server{opts: opts, logger: logger, store: newStore(), ev: newEvidence(opts.MaxLogEntries), known: known}
}

// Log returns the request log, as GET /_sandbox/log does.
func (s *Server) Log() Log { return s.ev.Snapshot() }

// Received returns every batch upsert in the order received, with its
// decoded body. It is in memory and for tests only: the bodies hold PHI and
// are never served over HTTP.
func (s *Server) Received() []Received { return s.ev.Received() }

// Reset forgets every contact, the log and the received writes, as
// POST /_sandbox/reset does.
func (s *Server) Reset() {
	s.store.reset()
	s.ev.Reset()
}

const contactsPrefix = "/crm/v3/objects/contacts"

// ServeHTTP routes a request to the API or the sandbox controls.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch p := r.URL.Path; {
	case p == contactsPrefix || strings.HasPrefix(p, contactsPrefix+"/"):
		s.serveAPI(w, r)
	case p == "/_sandbox/log":
		if r.Method != http.MethodGet {
			methodNotAllowed(w, "GET")
			return
		}
		writeJSON(w, http.StatusOK, s.Log())
	case p == "/_sandbox/reset":
		if r.Method != http.MethodPost {
			methodNotAllowed(w, "POST")
			return
		}
		s.Reset()
		w.WriteHeader(http.StatusNoContent)
	default:
		writeJSON(w, http.StatusNotFound, hubError("OBJECT_NOT_FOUND", "not found: the sandbox serves "+contactsPrefix+", its controls under /_sandbox/"))
	}
}

// answer is one API response and what it did.
type answer struct {
	status int
	body   any
	effect Effect
	id     string
	// logPath replaces the request path in the log when the path holds PHI
	// (a read by email).
	logPath string
}

const maxBody = 4 << 20

func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	var a answer
	if err != nil {
		a = invalid("the body could not be read")
	} else {
		a = s.route(r, body)
	}
	writeJSON(w, a.status, a.body)
	path := r.URL.Path
	if a.logPath != "" {
		path = a.logPath
	}
	key := r.Header.Get("Idempotency-Key")
	s.ev.Add(LogEntry{Time: start.UTC(), Method: r.Method, Path: path, IdempotencyKey: key,
		Status: a.status, Effect: a.effect, ID: a.id}, r.URL.Path == contactsPrefix+"/batch/upsert", body)
	s.logger.LogAttrs(r.Context(), slog.LevelInfo, "hubspot request",
		slog.String("method", r.Method), slog.String("path", path), slog.Int("status", a.status),
		slog.String("effect", string(a.effect)), slog.String("idempotency_key", key),
		slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000))
}

func (s *Server) route(r *http.Request, body []byte) answer {
	rest := strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, contactsPrefix), "/")
	var a answer
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	switch {
	case !ok || strings.TrimSpace(tok) == "" || (s.opts.Token != "" && tok != s.opts.Token):
		a = answer{status: http.StatusUnauthorized, effect: EffectRejected, body: hubError("INVALID_AUTHENTICATION",
			"Authentication credentials not found. This API supports OAuth 2.0 authentication and private app access tokens.")}
	case rest == "batch/upsert" && r.Method == http.MethodPost:
		return s.upsert(body)
	case rest == "search" && r.Method == http.MethodPost:
		return s.search(body)
	case rest != "" && !strings.Contains(rest, "/") && r.Method == http.MethodGet:
		return s.read(r, rest)
	case rest == "batch/upsert" || rest == "search" || (rest != "" && !strings.Contains(rest, "/")):
		a = answer{status: http.StatusMethodNotAllowed, effect: EffectRejected, body: hubError("VALIDATION_ERROR", "method not allowed")}
	default:
		a = answer{status: http.StatusNotFound, effect: EffectRejected, body: hubError("OBJECT_NOT_FOUND", "no such route")}
	}
	if r.Method == http.MethodGet && rest != "" && r.URL.Query().Get("idProperty") != "" {
		a.logPath = contactsPrefix + "/{idProperty value}"
	}
	return a
}

// hubError is HubSpot's Error body; the connector reads category.
func hubError(category, msg string) map[string]any {
	var b [16]byte
	_, _ = rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	return map[string]any{"status": "error", "message": msg, "category": category,
		"correlationId": id[0:8] + "-" + id[8:12] + "-" + id[12:16] + "-" + id[16:20] + "-" + id[20:]}
}

// invalid is a 400 VALIDATION_ERROR.
func invalid(msg string) answer {
	return answer{status: http.StatusBadRequest, effect: EffectRejected, body: hubError("VALIDATION_ERROR", msg)}
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
