package connectortest

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"time"

	"github.com/switchboard-health/switchboard/connectors"
)

// vendor is the stand-in a connector under test talks to: it records the
// writes, answers them as the scenario says, and answers everything else
// with Options.Answer.
type vendor struct {
	o    *Options
	url  string
	logs *logBuffer

	mu      sync.Mutex
	attempt int     // the delivery attempt under way, for the record
	writes  []write // every write, in arrival order
	fault   func(n int) *fault
	// release ends every stall (at cleanup), so the server can close.
	release chan struct{}
}

// write is one write as the vendor received it.
type write struct {
	attempt      int
	method, path string
	key          string
}

// fault is how the vendor answers a write instead of the ordinary answer.
type fault struct {
	status     int
	retryAfter string
	// stall answers nothing until the client gives up.
	stall bool
}

// newVendor starts a stand-in and builds the connector against it; nil
// when the connector could not be built (reported).
func newVendor(r reporter, o *Options) (*vendor, connectors.Connector) {
	r.Helper()
	v := &vendor{o: o, logs: &logBuffer{}, release: make(chan struct{})}
	srv := httptest.NewServer(http.HandlerFunc(v.serve))
	r.Cleanup(func() {
		close(v.release)
		srv.Close()
	})
	v.url = srv.URL
	conn, err := o.New(Target{
		URL:      srv.URL,
		Timeout:  tryTimeout,
		RetryMax: retryMax,
		Logger:   slog.New(slog.NewTextHandler(v.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		r.Errorf("New: %v", err)
		return nil, nil
	}
	return v, conn
}

// serve answers one request.
func (v *vendor) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	if !v.isWrite(req) {
		v.answer(w, req, body)
		return
	}
	v.mu.Lock()
	n := len(v.writes)
	v.writes = append(v.writes, write{attempt: v.attempt, method: req.Method, path: req.URL.Path, key: v.key(req, body)})
	var f *fault
	if v.fault != nil {
		f = v.fault(n)
	}
	v.mu.Unlock()
	switch {
	case f == nil:
		v.answer(w, req, body)
	case f.stall:
		select {
		case <-req.Context().Done():
		case <-v.release:
		case <-time.After(10 * tryTimeout):
		}
	default:
		if f.retryAfter != "" {
			w.Header().Set("Retry-After", f.retryAfter)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(f.status)
		_, _ = w.Write(v.errorBody(f.status, body))
	}
}

func (v *vendor) isWrite(r *http.Request) bool {
	if v.o.IsWrite != nil {
		return v.o.IsWrite(r)
	}
	return r.Method != http.MethodGet && r.Method != http.MethodHead
}

func (v *vendor) key(r *http.Request, body []byte) string {
	if v.o.Key != nil {
		return v.o.Key(r, body)
	}
	return r.Header.Get("Idempotency-Key")
}

func (v *vendor) answer(w http.ResponseWriter, r *http.Request, body []byte) {
	if v.o.Answer != nil {
		v.o.Answer(w, r, body)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"id":"kit-1"}`))
}

// errorBody quotes the request back, as vendors' error messages do, so a
// connector that copies the vendor's message into its error leaks the
// canaries where the NoPHI check sees them.
func (v *vendor) errorBody(status int, request []byte) []byte {
	if v.o.ErrorBody != nil {
		return v.o.ErrorBody(status, request)
	}
	msg := "could not process " + strconv.Quote(string(request))
	b, _ := json.Marshal(map[string]any{"message": msg, "error": map[string]any{"message": msg}})
	return b
}

// scenario sets how writes are answered from now on, by their index.
func (v *vendor) scenario(f func(n int) *fault) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.fault = f
}

// setAttempt records the delivery attempt the next writes belong to.
func (v *vendor) setAttempt(a int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.attempt = a
}

// recorded returns the writes so far, and forgets them.
func (v *vendor) recorded() []write {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := v.writes
	v.writes = nil
	return out
}

// all faults every write the same way.
func all(f fault) func(int) *fault { return func(int) *fault { return &f } }

// logBuffer collects what the connector logs, from any goroutine.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
