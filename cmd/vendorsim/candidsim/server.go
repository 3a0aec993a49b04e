package candidsim

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/switchboard-health/switchboard/cmd/vendorsim/simlog"
)

// Options configure a sandbox. The zero value is ready to use.
type Options struct {
	// ClientID and ClientSecret are the only credentials the token endpoint
	// accepts when set; any non-empty pair is accepted otherwise.
	ClientID, ClientSecret string
	// TokenTTL is the expires_in of issued tokens; one hour when zero. A
	// request with an expired token answers 401, as Candid does.
	TokenTTL time.Duration
	// ClaimStatus is the status of the claim every new encounter gets;
	// "biller_received" when empty (not adjudicated: ClaimResponse queued).
	ClaimStatus string
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// MaxLogEntries caps the request log and the received writes (the oldest
	// are dropped, counters stay exact); 100000 when zero.
	MaxLogEntries int
	// Logger receives one line per API request (method, path, status,
	// effect, duration; never a body or query). Nothing is logged when nil.
	Logger *slog.Logger
}

// Server is the Candid Health sandbox, an http.Handler safe for concurrent
// use.
//
// Routes:
//
//	POST /api/auth/v2/token                  {client_id, client_secret} -> {access_token, expires_in, token_type}
//	POST /api/encounters/v4                  create an encounter; a known external_id answers 409
//	GET  /api/encounters/v4/{encounter_id}   read an encounter, 404 when unknown
//	GET  /api/encounters/v4?external_id=     the encounters with that external_id (an EncounterPage)
//	GET  /_sandbox/log                       the request log (Log)
//	POST /_sandbox/reset                     forget every encounter, token and the log
//	POST /_sandbox/claim-status              {"encounter_id","status"}: move a claim (SetClaimStatus)
type Server struct {
	opts   Options
	logger *slog.Logger
	store  *store
	ev     *simlog.Recorder

	mu     sync.Mutex
	tokens map[string]time.Time // access token -> expiry
}

// New returns a sandbox with no encounters.
func New(opts Options) *Server {
	if opts.TokenTTL <= 0 {
		opts.TokenTTL = time.Hour
	}
	if opts.ClaimStatus == "" {
		opts.ClaimStatus = "biller_received"
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
	return &Server{opts: opts, logger: logger, store: newStore(), ev: newEvidence(opts.MaxLogEntries),
		tokens: map[string]time.Time{}}
}

// Log returns the request log, as GET /_sandbox/log does.
func (s *Server) Log() Log { return s.ev.Snapshot() }

// Received returns every encounter create in the order received, with its
// decoded body. It is in memory and for tests only: the bodies hold PHI and
// are never served over HTTP.
func (s *Server) Received() []Received { return s.ev.Received() }

// Reset forgets every encounter, every token, the log and the received
// writes, as POST /_sandbox/reset does.
func (s *Server) Reset() {
	s.store.reset()
	s.ev.Reset()
	s.mu.Lock()
	s.tokens = map[string]time.Time{}
	s.mu.Unlock()
}

// ExpireTokens makes every issued token expired, so the next call answers
// 401 and a client must fetch a new one.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for t := range s.tokens {
		s.tokens[t] = time.Time{}
	}
}

// ServeHTTP routes a request to the API or the sandbox controls.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch p := r.URL.Path; {
	case p == "/api/auth/v2/token" || p == "/api/encounters/v4" || strings.HasPrefix(p, "/api/encounters/v4/"):
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
	case p == "/_sandbox/claim-status":
		s.handleClaimStatus(w, r)
	default:
		writeJSON(w, http.StatusNotFound, candidError("EntityNotFoundError", map[string]any{"id": p}))
	}
}

// answer is one API response and what it did.
type answer struct {
	status int
	body   any
	effect Effect
	id     string
}

// maxBody bounds a request body; an encounter is a few kilobytes.
const maxBody = 4 << 20

func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	var a answer
	if err != nil {
		a = validation("body", "the body could not be read")
	} else {
		a = s.route(r, body)
	}
	writeJSON(w, a.status, a.body)
	key := r.Header.Get("Idempotency-Key")
	write := r.Method == http.MethodPost && r.URL.Path == "/api/encounters/v4"
	s.ev.Add(LogEntry{Time: start.UTC(), Method: r.Method, Path: r.URL.Path, IdempotencyKey: key,
		Status: a.status, Effect: a.effect, ID: a.id}, write, body)
	s.logger.LogAttrs(r.Context(), slog.LevelInfo, "candid request",
		slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Int("status", a.status),
		slog.String("effect", string(a.effect)), slog.String("idempotency_key", key),
		slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000))
}

func (s *Server) route(r *http.Request, body []byte) answer {
	p := r.URL.Path
	if p == "/api/auth/v2/token" {
		if r.Method != http.MethodPost {
			return notAllowed()
		}
		return s.token(r, body)
	}
	if !s.authorized(r) {
		return answer{status: http.StatusUnauthorized, effect: EffectRejected,
			body: candidError("UnauthorizedError", map[string]any{"message": "missing, unknown or expired bearer token"})}
	}
	id, _ := strings.CutPrefix(p, "/api/encounters/v4")
	id = strings.TrimPrefix(id, "/")
	switch {
	case id == "" && r.Method == http.MethodPost:
		return s.create(r, body)
	case id == "" && r.Method == http.MethodGet:
		return s.list(r.URL.Query().Get("external_id"))
	case id != "" && !strings.Contains(id, "/") && r.Method == http.MethodGet:
		return s.read(id)
	case id == "" || !strings.Contains(id, "/"):
		return notAllowed()
	}
	return answer{status: http.StatusNotFound, effect: EffectRejected, body: candidError("EntityNotFoundError", map[string]any{"id": id})}
}

// token issues a bearer token for the client credentials.
func (s *Server) token(r *http.Request, body []byte) answer {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		return answer{status: http.StatusUnsupportedMediaType, effect: EffectRejected,
			body: candidError("InvalidContentTypeError", map[string]any{"message": "Content-Type must be application/json"})}
	}
	var in struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	if err := json.Unmarshal(body, &in); err != nil || in.ClientID == "" || in.ClientSecret == "" {
		return validation("client_id", "client_id and client_secret are required")
	}
	if (s.opts.ClientID != "" && in.ClientID != s.opts.ClientID) || (s.opts.ClientSecret != "" && in.ClientSecret != s.opts.ClientSecret) {
		return answer{status: http.StatusUnauthorized, effect: EffectRejected,
			body: candidError("UnauthorizedError", map[string]any{"message": "unknown client credentials"})}
	}
	var b [24]byte
	_, _ = rand.Read(b[:])
	tok := "cand_sbx_" + hex.EncodeToString(b[:])
	s.mu.Lock()
	s.tokens[tok] = s.opts.Now().Add(s.opts.TokenTTL)
	s.mu.Unlock()
	return answer{status: http.StatusOK, effect: EffectToken, body: map[string]any{
		"access_token": tok, "expires_in": int64(s.opts.TokenTTL / time.Second), "token_type": "Bearer"}}
}

func (s *Server) authorized(r *http.Request) bool {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.tokens[tok]
	return ok && s.opts.Now().Before(exp)
}

// candidError is Candid's (Fern's) error envelope; the connector reads
// errorName.
func candidError(name string, content any) map[string]any {
	return map[string]any{"errorName": name, "content": content}
}

// validation is Candid's 422 HttpRequestValidationsError for one field.
func validation(field, msg string) answer {
	return answer{status: http.StatusUnprocessableEntity, effect: EffectRejected, body: candidError("HttpRequestValidationsError",
		[]any{map[string]any{"fieldName": field, "humanReadableMessage": msg}})}
}

func notAllowed() answer {
	return answer{status: http.StatusMethodNotAllowed, effect: EffectRejected,
		body: candidError("MethodNotAllowedError", map[string]any{"message": "method not allowed"})}
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
