package ehrsim

import (
	"context"
	"encoding/json"
	"fmt"
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
}

func (f Faults) validate() error {
	switch {
	case f.LatencyMS < 0 || f.FailNext < 0 || f.RetryAfterS < 0 || f.RejectNext < 0 || f.FailReadsNext < 0:
		return fmt.Errorf("fault settings must not be negative")
	case f.FailStatus != 0 && (f.FailStatus < 400 || f.FailStatus > 599):
		return fmt.Errorf("fail_status must be an HTTP error status (400-599)")
	}
	return nil
}

// faultPatch is a POST body: only the fields present change.
type faultPatch struct {
	LatencyMS     *int `json:"latency_ms"`
	FailNext      *int `json:"fail_next"`
	FailStatus    *int `json:"fail_status"`
	RetryAfterS   *int `json:"retry_after_s"`
	RejectNext    *int `json:"reject_next"`
	FailReadsNext *int `json:"fail_reads_next"`
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
	return f
}

// faultState keeps latency in an atomic so the hot path reads it without a
// lock; the counters share one short-held mutex.
type faultState struct {
	latency atomic.Int64 // nanoseconds
	mu      sync.Mutex
	f       Faults // LatencyMS is mirrored from latency under mu
}

func (s *faultState) get() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.f
}

func (s *faultState) set(f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.f = f
	s.latency.Store(int64(time.Duration(f.LatencyMS) * time.Millisecond))
}

// patch applies a POST body atomically.
func (s *faultState) patch(p faultPatch) (Faults, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := p.apply(s.f)
	if err := f.validate(); err != nil {
		return Faults{}, err
	}
	s.f = f
	s.latency.Store(int64(time.Duration(f.LatencyMS) * time.Millisecond))
	return f, nil
}

// injected is an injected failure decided for one request.
type injected struct {
	status     int
	retryAfter int
	reject     bool
}

// take consumes one fault for a write or a read, if any is pending.
func (s *faultState) take(write bool) (injected, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	status := s.f.FailStatus
	if status == 0 {
		status = http.StatusServiceUnavailable
	}
	switch {
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
			"retry_after_s", f.RetryAfterS, "reject_next", f.RejectNext, "fail_reads_next", f.FailReadsNext)
	default:
		methodNotAllowed(w, "GET, POST, DELETE")
		return
	}
	writeJSON(w, http.StatusOK, s.faults.get())
}
