package ehrsim

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Faults make the EHR slow or failing, set at run time with
// POST /_sandbox/faults or Server.SetFaults. Injected failures answer in front
// of the FHIR logic, as a gateway would: they have no effect and are not
// remembered under the request's Idempotency-Key.
type Faults struct {
	// LatencyMS is added to every FHIR request before it is handled. The
	// sleep holds no lock, so concurrent requests overlap as at a real vendor.
	LatencyMS int `json:"latency_ms"`
	// FailNext makes the next N writes (POST, PUT) answer FailStatus.
	FailNext int `json:"fail_next"`
	// FailStatus is the status of injected failures; 503 when zero.
	FailStatus int `json:"fail_status"`
	// RetryAfterS, when positive, is sent as Retry-After (seconds) with each
	// injected failure.
	RetryAfterS int `json:"retry_after_s"`
	// RejectNext makes the next N writes answer 400 with an OperationOutcome,
	// as a vendor rejecting a resource's content would.
	RejectNext int `json:"reject_next"`
	// FailReadsNext makes the next N reads and searches answer FailStatus.
	// Reads are counted apart from writes so that a test can watch a failing
	// delivery through the sandbox's own search.
	FailReadsNext int `json:"fail_reads_next"`
	// Mode is a standing failure, for chaos tests: "down" answers every
	// FHIR request 503 (Retry-After when RetryAfterS is set) with no effect,
	// as a vendor's gateway does while the vendor is down; "429" answers
	// every write 429 with Retry-After RetryAfterS and no effect; "reset"
	// lets every write take effect, then resets the connection half-way
	// through the answer's body, so the client cannot know it succeeded.
	// Empty is no standing failure.
	Mode string `json:"mode,omitempty"`
	// ForMS, when positive in a POST, bounds the settings sent: after this
	// many milliseconds the settings in place before the POST come back on
	// their own, so a test can set "down for 60 s" without a timer of its
	// own. Until is when that happens (zero when nothing expires).
	ForMS int       `json:"for_ms,omitempty"`
	Until time.Time `json:"until,omitzero"`
}

// The standing failure modes (Faults.Mode).
const (
	ModeDown     = "down"
	ModeThrottle = "429"
	ModeReset    = "reset"
)

func (f Faults) validate() error {
	switch {
	case f.LatencyMS < 0 || f.FailNext < 0 || f.RetryAfterS < 0 || f.RejectNext < 0 || f.FailReadsNext < 0:
		return fmt.Errorf("fault settings must not be negative")
	case f.FailStatus != 0 && (f.FailStatus < 400 || f.FailStatus > 599):
		return fmt.Errorf("fail_status must be an HTTP error status (400-599)")
	case f.ForMS < 0:
		return fmt.Errorf("for_ms must not be negative")
	}
	switch f.Mode {
	case "", ModeDown, ModeThrottle, ModeReset:
	default:
		return fmt.Errorf("mode must be one of %q, %q, %q or empty", ModeDown, ModeThrottle, ModeReset)
	}
	return nil
}

// faultPatch is a POST body: only the fields present change.
type faultPatch struct {
	LatencyMS     *int    `json:"latency_ms"`
	FailNext      *int    `json:"fail_next"`
	FailStatus    *int    `json:"fail_status"`
	RetryAfterS   *int    `json:"retry_after_s"`
	RejectNext    *int    `json:"reject_next"`
	FailReadsNext *int    `json:"fail_reads_next"`
	Mode          *string `json:"mode"`
	ForMS         *int    `json:"for_ms"`
}

func (p faultPatch) apply(f Faults) Faults {
	for _, x := range []struct {
		from *int
		to   *int
	}{{p.LatencyMS, &f.LatencyMS}, {p.FailNext, &f.FailNext}, {p.FailStatus, &f.FailStatus},
		{p.RetryAfterS, &f.RetryAfterS}, {p.RejectNext, &f.RejectNext}, {p.FailReadsNext, &f.FailReadsNext}} {
		if x.from != nil {
			*x.to = *x.from
		}
	}
	if p.Mode != nil {
		f.Mode = *p.Mode
	}
	f.ForMS, f.Until = 0, time.Time{}
	if p.ForMS != nil {
		f.ForMS = *p.ForMS
	}
	return f
}

// faultState keeps latency in an atomic so the hot path reads it without a
// lock; the counters share one short-held mutex.
type faultState struct {
	latency atomic.Int64 // nanoseconds
	until   atomic.Int64 // unix nanoseconds when f.Until is set, else 0
	mu      sync.Mutex
	f       Faults // LatencyMS is mirrored from latency under mu
	before  Faults // what comes back at f.Until
}

// expire restores the settings from before a bounded POST once its time is
// up. Called with mu held.
func (s *faultState) expire(now time.Time) {
	if s.f.Until.IsZero() || now.Before(s.f.Until) {
		return
	}
	s.store(s.before)
	s.before = Faults{}
}

// store replaces the settings. Called with mu held.
func (s *faultState) store(f Faults) {
	s.f = f
	s.latency.Store(int64(time.Duration(f.LatencyMS) * time.Millisecond))
	if f.Until.IsZero() {
		s.until.Store(0)
	} else {
		s.until.Store(f.Until.UnixNano())
	}
}

func (s *faultState) get() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expire(time.Now())
	return s.f
}

func (s *faultState) set(f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f.ForMS, f.Until = 0, time.Time{}
	s.store(f)
	s.before = Faults{}
}

// patch applies a POST body atomically. A bounded POST (for_ms) made while
// an earlier one is still in force keeps the earliest settings to come
// back to.
func (s *faultState) patch(p faultPatch) (Faults, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	s.expire(now)
	f := p.apply(s.f)
	if err := f.validate(); err != nil {
		return Faults{}, err
	}
	if f.ForMS > 0 {
		if s.f.Until.IsZero() {
			s.before = s.f
		}
		f.Until = now.Add(time.Duration(f.ForMS) * time.Millisecond)
	}
	s.store(f)
	return f, nil
}

// mode is the standing failure mode in force now.
func (s *faultState) mode() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expire(time.Now())
	return s.f.Mode
}

// injected is an injected failure decided for one request.
type injected struct {
	status     int
	retryAfter int
	reject     bool
	mode       string // the standing mode that caused it, if any
}

// take consumes one fault for a write or a read, if any is pending.
func (s *faultState) take(write bool) (injected, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expire(time.Now())
	status := s.f.FailStatus
	if status == 0 {
		status = http.StatusServiceUnavailable
	}
	switch {
	case s.f.Mode == ModeDown:
		return injected{status: http.StatusServiceUnavailable, retryAfter: s.f.RetryAfterS, mode: ModeDown}, true
	case write && s.f.Mode == ModeThrottle:
		return injected{status: http.StatusTooManyRequests, retryAfter: s.f.RetryAfterS, mode: ModeThrottle}, true
	case write && s.f.FailNext > 0:
		s.f.FailNext--
		return injected{status: status, retryAfter: s.f.RetryAfterS}, true
	case write && s.f.RejectNext > 0:
		s.f.RejectNext--
		return injected{status: http.StatusBadRequest, reject: true}, true
	case !write && s.f.FailReadsNext > 0:
		s.f.FailReadsNext--
		return injected{status: status, retryAfter: s.f.RetryAfterS}, true
	}
	return injected{}, false
}

// sleep waits out the configured latency, or until ctx ends.
func (s *faultState) sleep(ctx context.Context) error {
	if u := s.until.Load(); u != 0 && time.Now().UnixNano() >= u {
		s.get() // a bounded setting's time is up: restore what came before
	}
	d := time.Duration(s.latency.Load())
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Server) handleFaults(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
	case http.MethodDelete:
		s.faults.set(Faults{})
	case http.MethodPost, http.MethodPut:
		var p faultPatch
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&p); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "faults: " + err.Error()})
			return
		}
		f, err := s.faults.patch(p)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "faults: " + err.Error()})
			return
		}
		s.logger.Info("faults set", "latency_ms", f.LatencyMS, "fail_next", f.FailNext, "fail_status", f.FailStatus,
			"retry_after_s", f.RetryAfterS, "reject_next", f.RejectNext, "fail_reads_next", f.FailReadsNext,
			"mode", f.Mode, "for_ms", f.ForMS)
	default:
		methodNotAllowed(w, "GET, POST, DELETE")
		return
	}
	writeJSON(w, http.StatusOK, s.faults.get())
}

// resetMidBody sends the head of a and half its body, then resets the TCP
// connection (RST, not FIN): the effect has happened but the client reads
// a truncated body and an error, as when a vendor's load balancer drops a
// connection mid-answer. It reports false when the connection cannot be
// taken over (HTTP/2), and the answer is then sent whole.
func resetMidBody(w http.ResponseWriter, a *answer) bool {
	hj, ok := w.(http.Hijacker)
	if !ok {
		return false
	}
	conn, buf, err := hj.Hijack()
	if err != nil {
		return false
	}
	defer conn.Close()
	fmt.Fprintf(buf, "HTTP/1.1 %d %s\r\nContent-Type: application/fhir+json; charset=utf-8\r\nContent-Length: %d\r\n",
		a.status, http.StatusText(a.status), len(a.body))
	if a.location != "" {
		fmt.Fprintf(buf, "Location: %s\r\n", a.location)
	}
	fmt.Fprintf(buf, "\r\n")
	_, _ = buf.Write(a.body[:len(a.body)/2])
	_ = buf.Flush()
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0) // Close sends RST
	}
	return true
}
