package outbound

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard-health/switchboard/connectors"
)

// vendor is an httptest server whose answer to the n-th call (from 1) is
// decided by its handler; it records every Idempotency-Key it saw.
type vendor struct {
	URL   string
	calls atomic.Int64
	mu    sync.Mutex
	keys  []string
}

func newVendor(t *testing.T, h func(n int64, w http.ResponseWriter)) *vendor {
	t.Helper()
	v := &vendor{}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := v.calls.Add(1)
		v.mu.Lock()
		v.keys = append(v.keys, r.Header.Get("Idempotency-Key"))
		v.mu.Unlock()
		h(n, w)
	}))
	t.Cleanup(ts.Close)
	v.URL = ts.URL
	return v
}

// fast shortens the backoff so tests do not wait for it.
func fast(o Options) Options {
	o.RetryWaitMin, o.RetryWaitMax = time.Millisecond, 5*time.Millisecond
	return o
}

func post(t *testing.T, c *Client, url string) (*Response, *connectors.Error) {
	t.Helper()
	resp, err := c.Do(context.Background(), Request{Method: http.MethodPost, URL: url, Body: []byte(`{}`), IdempotencyKey: "key-1"})
	if err == nil {
		return resp, nil
	}
	var ce *connectors.Error
	if !errors.As(err, &ce) {
		t.Fatalf("Do returned %T %v, want *connectors.Error", err, err)
	}
	return resp, ce
}

func TestRetriesWithinOneAttemptKeepTheKey(t *testing.T) {
	v := newVendor(t, func(n int64, w http.ResponseWriter) {
		if n < 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"id":"x1"}`))
	})
	resp, ce := post(t, New(fast(Options{Name: "ehr"})), v.URL+"/Patient")
	if ce != nil || resp.Status != http.StatusCreated || string(resp.Body) != `{"id":"x1"}` {
		t.Fatalf("want 201 after two 503s: %+v %v", resp, ce)
	}
	if v.calls.Load() != 3 {
		t.Fatalf("calls %d, want 3", v.calls.Load())
	}
	for _, k := range v.keys {
		if k != "key-1" {
			t.Fatalf("Idempotency-Key differs between tries: %q", v.keys)
		}
	}
}

// TestOnceSendsASingleTry: a Request marked Once is not repeated within
// the attempt, even on an answer that would be retried; the retryable
// failure still goes back to the queue.
func TestOnceSendsASingleTry(t *testing.T) {
	v := newVendor(t, func(_ int64, w http.ResponseWriter) { w.WriteHeader(http.StatusServiceUnavailable) })
	_, err := New(fast(Options{Name: "calcom", RetryMax: 3})).Do(context.Background(),
		Request{Method: http.MethodPost, URL: v.URL + "/v2/bookings", Body: []byte(`{}`), Once: true})
	var ce *connectors.Error
	if !errors.As(err, &ce) || ce.Class != connectors.Retryable || ce.Status != http.StatusServiceUnavailable {
		t.Fatalf("want a retryable 503, got %v", err)
	}
	if n := v.calls.Load(); n != 1 {
		t.Fatalf("calls %d, want 1", n)
	}
}

func TestClassification(t *testing.T) {
	stripeLike := func(status int, h http.Header) connectors.Class {
		switch h.Get("Should-Retry") {
		case "true":
			return connectors.Retryable
		case "false":
			return connectors.Permanent
		}
		return ""
	}
	cases := []struct {
		name       string
		status     int
		header     http.Header
		classify   func(int, http.Header) connectors.Class
		class      connectors.Class
		retryAfter time.Duration
		calls      int64
	}{
		{name: "bad request is permanent, not retried", status: 400, class: connectors.Permanent, calls: 1},
		{name: "not found is permanent", status: 404, class: connectors.Permanent, calls: 1},
		{name: "conflict is retryable by the queue, not inline", status: 409, class: connectors.Retryable, calls: 1},
		{name: "5xx retried inline, then retryable", status: 502, class: connectors.Retryable, calls: 3},
		{name: "429 without Retry-After retried inline", status: 429, class: connectors.Retryable, calls: 3},
		{name: "long Retry-After in seconds goes to the queue", status: 429, header: http.Header{"Retry-After": {"120"}},
			class: connectors.Retryable, retryAfter: 120 * time.Second, calls: 1},
		{name: "long Retry-After as an HTTP-date goes to the queue", status: 503,
			header: http.Header{"Retry-After": {time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)}},
			class:  connectors.Retryable, retryAfter: time.Hour, calls: 1},
		{name: "a redirect is not followed and is permanent", status: 302, header: http.Header{"Location": {"http://elsewhere.example/"}},
			class: connectors.Permanent, calls: 1},
		{name: "vendor hook: should not retry a 500", status: 500, header: http.Header{"Should-Retry": {"false"}},
			classify: stripeLike, class: connectors.Permanent, calls: 1},
		{name: "vendor hook: should retry a 409", status: 409, header: http.Header{"Should-Retry": {"true"}},
			classify: stripeLike, class: connectors.Retryable, calls: 3},
		{name: "vendor hook silent: the status decides", status: 503, classify: stripeLike, class: connectors.Retryable, calls: 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := newVendor(t, func(_ int64, w http.ResponseWriter) {
				for k, vs := range c.header {
					w.Header()[k] = vs
				}
				w.WriteHeader(c.status)
				_, _ = w.Write([]byte(`{"error":"vendor detail"}`))
			})
			resp, ce := post(t, New(fast(Options{Name: "x", Classify: c.classify})), v.URL)
			if ce == nil || ce.Class != c.class || ce.Status != c.status || ce.Code != "http_"+itoa(c.status) {
				t.Fatalf("got %+v, want class %s status %d", ce, c.class, c.status)
			}
			if d := ce.RetryAfter - c.retryAfter; d < -2*time.Second || d > 0 {
				t.Fatalf("RetryAfter %v, want about %v", ce.RetryAfter, c.retryAfter)
			}
			if resp == nil || resp.Status != c.status || !strings.Contains(string(resp.Body), "vendor detail") {
				t.Fatalf("the answer must come back with the error: %+v", resp)
			}
			if v.calls.Load() != c.calls {
				t.Fatalf("calls %d, want %d", v.calls.Load(), c.calls)
			}
		})
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func TestInlineRetryAfterIsHonoured(t *testing.T) {
	var first atomic.Int64
	v := newVendor(t, func(n int64, w http.ResponseWriter) {
		if n == 1 {
			first.Store(time.Now().UnixNano())
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		if time.Since(time.Unix(0, first.Load())) < 950*time.Millisecond {
			w.WriteHeader(http.StatusTeapot) // came back before Retry-After
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	resp, ce := post(t, New(fast(Options{Name: "x"})), v.URL)
	if ce != nil || resp.Status != 200 || v.calls.Load() != 2 {
		t.Fatalf("want 200 on the second try after waiting 1s: %v, %d calls", ce, v.calls.Load())
	}
}

func TestBreaker(t *testing.T) {
	var status atomic.Int64
	status.Store(400)
	v := newVendor(t, func(_ int64, w http.ResponseWriter) { w.WriteHeader(int(status.Load())) })
	const openFor = 300 * time.Millisecond
	obs := &observer{}
	c := New(fast(Options{Name: "x", RetryMax: -1, BreakerFailures: 3, BreakerOpenFor: openFor}.WithBreakers(obs)))

	for range 10 {
		post(t, c, v.URL)
	}
	if c.BreakerState() != "closed" {
		t.Fatal("permanent 4xx answers must not open the breaker")
	}

	status.Store(503)
	for i := range 3 {
		if _, ce := post(t, c, v.URL); ce.Class != connectors.Retryable {
			t.Fatalf("failure %d: %v", i, ce)
		}
	}
	if c.BreakerState() != "open" {
		t.Fatalf("3 failed attempts: breaker %s, want open", c.BreakerState())
	}
	if got := obs.seen(); got != "x:closed>open" {
		t.Fatalf("observer saw %q when the breaker opened, want x:closed>open", got)
	}
	before := v.calls.Load()
	resp, ce := post(t, c, v.URL)
	if ce == nil || ce.Class != connectors.BreakerOpen || ce.Code != "breaker_open" || resp != nil {
		t.Fatalf("want BreakerOpen: %+v", ce)
	}
	if ce.RetryAfter <= 0 || ce.RetryAfter > openFor {
		t.Fatalf("RetryAfter %v, want the time left of %v", ce.RetryAfter, openFor)
	}
	if v.calls.Load() != before {
		t.Fatal("an open breaker must not call the vendor")
	}

	time.Sleep(openFor + 50*time.Millisecond)
	if c.BreakerState() != "half-open" {
		t.Fatalf("after %v: breaker %s, want half-open", openFor, c.BreakerState())
	}
	status.Store(200)
	if _, ce := post(t, c, v.URL); ce != nil || c.BreakerState() != "closed" {
		t.Fatalf("a successful probe closes the breaker: %v %s", ce, c.BreakerState())
	}
	if got, want := obs.seen(), "x:closed>open x:open>half-open x:half-open>closed"; got != want {
		t.Fatalf("observer saw %q, want %q", got, want)
	}
}

// observer records breaker changes as "name:from>to".
type observer struct {
	mu      sync.Mutex
	changes []string
}

func (o *observer) BreakerChanged(name, from, to string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.changes = append(o.changes, name+":"+from+">"+to)
}

func (o *observer) seen() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return strings.Join(o.changes, " ")
}

// TestBreakerObserverRunsOutsideTheLock checks that an observer may read
// the breaker (as a health check would) without deadlocking it: gobreaker
// calls OnStateChange under its lock, so the report must come after.
// A vendor pacing its callers with 429 and Retry-After is not unwell: the
// deliveries wait what it asks, and the breaker stays closed. A 429 with
// no Retry-After still counts toward opening it.
func TestRetryAfter429DoesNotOpenTheBreaker(t *testing.T) {
	for _, c := range []struct {
		name       string
		retryAfter string
		want       string
	}{
		{"with Retry-After", "120", "closed"},
		{"without Retry-After", "", "open"},
	} {
		t.Run(c.name, func(t *testing.T) {
			v := newVendor(t, func(_ int64, w http.ResponseWriter) {
				if c.retryAfter != "" {
					w.Header().Set("Retry-After", c.retryAfter)
				}
				w.WriteHeader(http.StatusTooManyRequests)
			})
			cl := New(fast(Options{Name: "x", RetryMax: -1, BreakerFailures: 3, BreakerOpenFor: time.Minute}))
			for i := range 5 {
				if _, ce := post(t, cl, v.URL); ce == nil {
					t.Fatalf("answer %d: no error for a 429", i)
				}
			}
			if got := cl.BreakerState(); got != c.want {
				t.Fatalf("after five 429s %s: breaker %s, want %s", c.name, got, c.want)
			}
		})
	}
}

func TestBreakerObserverRunsOutsideTheLock(t *testing.T) {
	v := newVendor(t, func(_ int64, w http.ResponseWriter) { w.WriteHeader(http.StatusServiceUnavailable) })
	var c *Client
	var states []string
	c = New(fast(Options{Name: "x", RetryMax: -1, BreakerFailures: 1,
		OnBreakerChange: func(_, _, to string) { states = append(states, to+"="+c.breaker.State().String()) }}))
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = c.Do(context.Background(), Request{Method: http.MethodPost, URL: v.URL})
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the observer deadlocked the breaker")
	}
	if strings.Join(states, " ") != "open=open" {
		t.Fatalf("observer saw %v, want [open=open]", states)
	}
}

func TestCancelledCallerDoesNotCountAgainstTheVendor(t *testing.T) {
	v := newVendor(t, func(_ int64, w http.ResponseWriter) { time.Sleep(200 * time.Millisecond); w.WriteHeader(200) })
	c := New(fast(Options{Name: "x", RetryMax: -1, BreakerFailures: 1}))
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	_, err := c.Do(ctx, Request{Method: http.MethodPost, URL: v.URL})
	var ce *connectors.Error
	if !errors.As(err, &ce) || ce.Code != "canceled" || !errors.Is(err, context.Canceled) {
		t.Fatalf("%v", err)
	}
	if c.BreakerState() != "closed" {
		t.Fatal("a cancelled caller opened the breaker")
	}
}

func TestTransportFailures(t *testing.T) {
	slow := newVendor(t, func(_ int64, w http.ResponseWriter) { time.Sleep(300 * time.Millisecond); w.WriteHeader(200) })
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String()
	l.Close()
	cases := []struct {
		name, url, code string
		calls           func() int64
		wantCalls       int64
	}{
		{"a slow answer is a timeout, retried inline", slow.URL + "/Patient?name=x", "timeout", slow.calls.Load, 2},
		{"a refused connection", closed + "/Patient", "connection", nil, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, ce := post(t, New(fast(Options{Name: "x", RetryMax: 1, Timeout: 50 * time.Millisecond})), c.url)
			if ce == nil || ce.Class != connectors.Retryable || ce.Code != c.code || ce.Status != 0 || resp != nil {
				t.Fatalf("%+v", ce)
			}
			if strings.Contains(ce.Error(), "name=x") || strings.Contains(ce.Error(), "/Patient") {
				t.Fatalf("the error holds the URL: %v", ce)
			}
			if c.calls != nil && c.calls() != c.wantCalls {
				t.Fatalf("calls %d, want %d", c.calls(), c.wantCalls)
			}
		})
	}
}

// The log lines a user reads: one per try at Debug, one per failed attempt
// at Warn, each with the agreed keys, and none of the PHI a request carries
// (body, query, ids in the path) nor its credentials.
func TestLogsHoldNoPHI(t *testing.T) {
	v := newVendor(t, func(n int64, w http.ResponseWriter) { w.WriteHeader(500) })
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c := New(fast(Options{Name: "ehr", Logger: log}))
	_, _ = c.Do(context.Background(), Request{
		Method: http.MethodPut,
		URL:    v.URL + "/fhir/R4/Patient/pat-Zzid/_history/7?identifier=Zzquery",
		Body:   []byte(`{"name":[{"family":"Zzbody"}]}`),
		Header: http.Header{"Authorization": {"Bearer sk_Zzheader"}},
	})
	out := buf.String()
	for _, canary := range []string{"Zzid", "Zzquery", "Zzbody", "Zzheader", "identifier", v.URL} {
		if strings.Contains(out, canary) {
			t.Errorf("log holds %q:\n%s", canary, out)
		}
	}
	var tries, warns int
	sc := bufio.NewScanner(&buf)
	for sc.Scan() {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatal(err)
		}
		switch line["level"] {
		case "DEBUG":
			tries++
		case "WARN":
			warns++
		default:
			continue
		}
		for _, k := range []string{"destination", "method", "host", "path_template", "status", "attempt_try", "duration_ms"} {
			if _, ok := line[k]; !ok {
				t.Errorf("line %q lacks %s", line["msg"], k)
			}
		}
		if line["path_template"] != "/fhir/R4/Patient/{id}/_history/{id}" || line["status"] != float64(500) {
			t.Errorf("line: %v", line)
		}
	}
	if tries != 3 || warns != 1 {
		t.Fatalf("%d try lines and %d warn lines, want 3 and 1:\n%s", tries, warns, out)
	}
}

func TestPathTemplate(t *testing.T) {
	cases := []struct{ url, want string }{
		{"https://api.stripe.com/v1/customers", "/v1/customers"},
		{"https://api.stripe.com/v1/customers/cus_NffrFeUfNV2Hib?expand=x", "/v1/customers/{id}"},
		{"http://ehr/fhir/R4/Patient/abc", "/fhir/R4/Patient/{id}"},
		{"http://ehr/fhir/R4/Patient/abc/_history/2", "/fhir/R4/Patient/{id}/_history/{id}"},
		{"http://ehr/fhir/R4/Patient/$everything", "/fhir/R4/Patient/$everything"},
		{"http://ehr/fhir/R4/Patient?identifier=a|b", "/fhir/R4/Patient"},
		{"http://ehr/people/jane.doe@example.org/notes", "/people/{id}/notes"},
		{"http://ehr/people/Jane%20Doe", "/people/{id}"},
	}
	for _, c := range cases {
		if got := PathTemplate(c.url); got != c.want {
			t.Errorf("PathTemplate(%s) = %s, want %s", c.url, got, c.want)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	cases := []struct {
		value string
		want  time.Duration
	}{
		{"", 0}, {"0", 0}, {"-3", 0}, {"soon", 0}, {"5", 5 * time.Second},
		{"99999999999", 7 * 24 * time.Hour},
		{time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat), 0},
	}
	for _, c := range cases {
		if got := retryAfter(http.Header{"Retry-After": {c.value}}); got != c.want {
			t.Errorf("Retry-After %q: %v, want %v", c.value, got, c.want)
		}
	}
}

func TestBackoffGrowsAndStaysBounded(t *testing.T) {
	c := New(Options{})
	for n := range 40 {
		d := c.backoff(100*time.Millisecond, 2*time.Second, n, nil)
		ceil := min(100*time.Millisecond<<min(n, 30), 2*time.Second)
		if d < ceil/2 || d > ceil {
			t.Fatalf("try %d: %v outside [%v, %v]", n, d, ceil/2, ceil)
		}
	}
}

// A call turned away while the half-open breaker's probe is in flight is
// told to come back soon, not after a whole open period: when the probe
// succeeds, the backlog goes through at once (make chaos measured a drain
// 30 s longer than the outage needed before this).
func TestHalfOpenTurnsCallersAwayBriefly(t *testing.T) {
	release := make(chan struct{})
	var probing atomic.Bool
	v := newVendor(t, func(_ int64, w http.ResponseWriter) {
		if probing.Load() {
			<-release
			w.WriteHeader(http.StatusOK)
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	const openFor = 2 * time.Second
	c := New(fast(Options{Name: "x", RetryMax: -1, BreakerFailures: 1, BreakerOpenFor: openFor}))
	post(t, c, v.URL) // opens the breaker
	time.Sleep(openFor + 50*time.Millisecond)
	probing.Store(true)
	done := make(chan struct{})
	go func() { defer close(done); post(t, c, v.URL) }() // the probe, held by the vendor
	deadline := time.Now().Add(5 * time.Second)
	for v.calls.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	_, ce := post(t, c, v.URL)
	close(release)
	<-done
	if ce == nil || ce.Class != connectors.BreakerOpen {
		t.Fatalf("a call during the probe: %+v, want BreakerOpen", ce)
	}
	if ce.RetryAfter <= 0 || ce.RetryAfter > openFor/10 {
		t.Fatalf("RetryAfter %v during the probe, want at most %v (not the open period %v)", ce.RetryAfter, openFor/10, openFor)
	}
	if c.BreakerState() != "closed" {
		t.Fatalf("after a successful probe: %s", c.BreakerState())
	}
}
