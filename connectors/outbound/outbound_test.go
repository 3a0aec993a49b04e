package outbound

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard-health/switchboard/connectors"
)

type server struct {
	calls atomic.Int64
	mu    sync.Mutex
	keys  []string
	h     func(n int64, w http.ResponseWriter)
}

func newServer(t *testing.T, h func(n int64, w http.ResponseWriter)) (*server, string) {
	s := &server{h: h}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := s.calls.Add(1)
		s.mu.Lock()
		s.keys = append(s.keys, r.Header.Get("Idempotency-Key"))
		s.mu.Unlock()
		s.h(n, w)
	}))
	t.Cleanup(ts.Close)
	return s, ts.URL
}

func fast(o Options) Options {
	o.RetryWaitMin, o.RetryWaitMax = time.Millisecond, 5*time.Millisecond
	return o
}

func TestRetriesWithinOneAttemptKeepTheKey(t *testing.T) {
	s, url := newServer(t, func(n int64, w http.ResponseWriter) {
		if n < 3 {
			w.WriteHeader(503)
			return
		}
		w.WriteHeader(201)
	})
	c := New(fast(Options{Name: "x"}))
	resp, err := c.Do(context.Background(), Request{Method: "POST", URL: url + "/Patient", Body: []byte("{}"), IdempotencyKey: "k1"})
	if err != nil || resp.Status != 201 {
		t.Fatalf("%v %+v", err, resp)
	}
	for _, k := range s.keys {
		if k != "k1" {
			t.Fatalf("keys %v", s.keys)
		}
	}
	if s.calls.Load() != 3 {
		t.Fatalf("calls %d", s.calls.Load())
	}
}

func TestClassification(t *testing.T) {
	cases := []struct {
		name       string
		status     int
		header     [2]string
		class      connectors.Class
		retryAfter time.Duration
		calls      int64
	}{
		{"bad request is permanent, not retried", 400, [2]string{}, connectors.Permanent, 0, 1},
		{"conflict is retryable", 409, [2]string{}, connectors.Retryable, 0, 1},
		{"5xx retried then retryable", 502, [2]string{}, connectors.Retryable, 0, 3},
		{"long Retry-After goes to the queue", 429, [2]string{"Retry-After", "120"}, connectors.Retryable, 120 * time.Second, 1},
		{"Stripe-Should-Retry false is permanent", 500, [2]string{"Stripe-Should-Retry", "false"}, connectors.Permanent, 0, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, url := newServer(t, func(_ int64, w http.ResponseWriter) {
				if c.header[0] != "" {
					w.Header().Set(c.header[0], c.header[1])
				}
				w.WriteHeader(c.status)
			})
			resp, err := New(fast(Options{Name: "x"})).Do(context.Background(), Request{Method: "POST", URL: url})
			var ce *connectors.Error
			if !errors.As(err, &ce) || ce.Class != c.class || ce.Status != c.status || ce.RetryAfter != c.retryAfter {
				t.Fatalf("got %+v", err)
			}
			if resp == nil || resp.Status != c.status {
				t.Fatalf("the response must come back with the error: %+v", resp)
			}
			if s.calls.Load() != c.calls {
				t.Fatalf("calls %d, want %d", s.calls.Load(), c.calls)
			}
		})
	}
}

func TestInlineRetryAfterIsHonoured(t *testing.T) {
	var first time.Time
	_, url := newServer(t, func(n int64, w http.ResponseWriter) {
		if n == 1 {
			first = time.Now()
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(429)
			return
		}
		if time.Since(first) < 900*time.Millisecond {
			w.WriteHeader(400) // came back too early
			return
		}
		w.WriteHeader(200)
	})
	if _, err := New(fast(Options{Name: "x"})).Do(context.Background(), Request{Method: "POST", URL: url}); err != nil {
		t.Fatal(err)
	}
}

func TestBreakerOpensOnFailuresNotOnPermanentAnswers(t *testing.T) {
	status := atomic.Int64{}
	status.Store(400)
	s, url := newServer(t, func(_ int64, w http.ResponseWriter) { w.WriteHeader(int(status.Load())) })
	c := New(fast(Options{Name: "x", RetryMax: -1, BreakerFailures: 3, BreakerOpenFor: 200 * time.Millisecond}))
	for range 5 {
		_, _ = c.Do(context.Background(), Request{Method: "POST", URL: url})
	}
	if c.BreakerState() != "closed" {
		t.Fatal("permanent 4xx answers must not open the breaker")
	}
	status.Store(503)
	for range 3 {
		_, _ = c.Do(context.Background(), Request{Method: "POST", URL: url})
	}
	before := s.calls.Load()
	_, err := c.Do(context.Background(), Request{Method: "POST", URL: url})
	if connectors.ClassOf(err) != connectors.BreakerOpen || s.calls.Load() != before {
		t.Fatalf("want breaker open without a call: %v", err)
	}
	time.Sleep(250 * time.Millisecond)
	status.Store(200)
	if _, err := c.Do(context.Background(), Request{Method: "POST", URL: url}); err != nil || c.BreakerState() != "closed" {
		t.Fatalf("half-open probe should close it: %v %s", err, c.BreakerState())
	}
}

func TestTimeoutIsRetryable(t *testing.T) {
	_, url := newServer(t, func(_ int64, w http.ResponseWriter) { time.Sleep(300 * time.Millisecond); w.WriteHeader(200) })
	_, err := New(fast(Options{Name: "x", RetryMax: -1, Timeout: 50 * time.Millisecond})).Do(context.Background(), Request{Method: "POST", URL: url})
	var ce *connectors.Error
	if !errors.As(err, &ce) || ce.Class != connectors.Retryable || ce.Code != "timeout" {
		t.Fatalf("%+v", err)
	}
}

func TestLogsHoldNoBodyQueryOrIDs(t *testing.T) {
	_, url := newServer(t, func(_ int64, w http.ResponseWriter) { w.WriteHeader(500) })
	var buf bytes.Buffer
	c := New(fast(Options{Name: "x", Logger: slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))}))
	_, _ = c.Do(context.Background(), Request{Method: "PUT", URL: url + "/Patient/pat123?identifier=Zzsecret", Body: []byte(`{"family":"Zzsecret"}`),
		Header: http.Header{"Authorization": {"Bearer sk_Zzsecret"}}})
	out := buf.String()
	if strings.Contains(out, "Zzsecret") || strings.Contains(out, "pat123") || !strings.Contains(out, "/Patient/{id}") {
		t.Fatalf("log: %s", out)
	}
}
