// Package outbound is the one HTTP client every connector sends through. It
// brings what a vendor call needs and no connector should rewrite: a timeout
// per try, a few quick retries within one delivery attempt
// (go-retryablehttp), the same Idempotency-Key on every try, a circuit
// breaker per destination (gobreaker), classification of the answer into
// connectors.Error classes, and request logging that never includes a body,
// a header, a query or an id.
//
// # One delivery attempt
//
// Client.Do is one delivery attempt as the queue sees it. Inside it, a
// connection error, a timeout, a 5xx, a 408 or a 429 is retried up to
// Options.RetryMax times with exponential backoff and jitter, or after the
// vendor's Retry-After when that is at most Options.MaxInlineRetryAfter. A
// longer Retry-After ends the attempt at once and comes back as
// connectors.Error.RetryAfter, for the queue to snooze the job rather than
// hold a worker. A 409 is not retried inline (the other writer needs longer
// than a few hundred milliseconds); it is Retryable for the queue.
//
// # The circuit breaker
//
// One breaker per Client (per destination) wraps the whole attempt. Only
// answers that say the vendor is unwell count against it: connection errors,
// timeouts, 5xx, 408 and 429. A permanent 4xx is about the request, not the
// vendor, and counts as a success; a caller's cancellation (shutdown) does
// not count at all. After Options.BreakerFailures failed attempts in a row
// the breaker opens: Do then returns a BreakerOpen error without calling the
// vendor, with RetryAfter set to the time left until the breaker lets one
// probe through (half-open); the probe's success closes it again.
//
// Every change of state is reported to Options.OnBreakerChange, when set,
// in the order the changes happened, after the breaker's lock is released:
// a slow observer delays the call that changed the state, never the
// breaker itself.
package outbound

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-retryablehttp"
	"github.com/sony/gobreaker/v2"

	"github.com/switchboard-health/switchboard/connectors"
)

// Options configures a Client. Zero values take the defaults.
type Options struct {
	// Name is the destination's name; it names the breaker and the logs.
	Name string
	// Timeout bounds one HTTP try, answer body included (default 10s).
	Timeout time.Duration
	// RetryMax is the number of tries within one delivery attempt after the
	// first (default 2; -1 for none).
	RetryMax int
	// RetryWaitMin and RetryWaitMax bound the backoff between tries
	// (default 100ms and 2s).
	RetryWaitMin, RetryWaitMax time.Duration
	// MaxInlineRetryAfter is the longest Retry-After waited for inside an
	// attempt; a longer one ends the attempt and is returned as
	// connectors.Error.RetryAfter (default 2s).
	MaxInlineRetryAfter time.Duration
	// BreakerFailures is the number of consecutive failed attempts that
	// opens the breaker (default 5).
	BreakerFailures uint32
	// BreakerOpenFor is how long the breaker stays open before it lets a
	// probe through (default 30s).
	BreakerOpenFor time.Duration
	// Classify, when set, decides the class of a non-2xx answer before
	// connectors.ClassifyStatus does: a vendor that says in a header whether
	// a retry can help (Stripe-Should-Retry) is classified by its connector,
	// not by this package. Return "" to fall back to the status. The class
	// also decides inline retries: only Retryable answers are retried.
	Classify func(status int, h http.Header) connectors.Class
	// OnBreakerChange, when set, is told of every change of the breaker's
	// state ("closed", "half-open", "open") with the destination's name. It
	// is called outside the breaker's lock, by the goroutine whose call
	// (Do or BreakerState) made the change, one change at a time and in
	// order; it should return quickly (hand slow work to a goroutine), as
	// that call waits for it. See WithBreakers.
	OnBreakerChange func(name, from, to string)
	// Logger receives one Debug line per try and one Warn line per failed
	// attempt (default: discard).
	Logger *slog.Logger
	// MaxResponseBytes is the most of an answer body read (default
	// MaxBody). A longer answer is an error wrapping ErrResponseTooLarge,
	// never a cut body (see Do).
	MaxResponseBytes int64
	// Limiter, when set, is the destination's rate limit: every HTTP try
	// takes a place in it first (limit.go). See WithParams.
	Limiter connectors.Limiter
	// Transport replaces the default transport (tests).
	Transport http.RoundTripper
}

// WithBreakers returns o with OnBreakerChange reporting to obs, the
// observer a connector receives in connectors.Params.Breakers; a nil obs
// leaves o as it is. Connectors use WithParams, which also passes on the
// rate limit.
func (o Options) WithBreakers(obs connectors.BreakerObserver) Options {
	if obs != nil {
		o.OnBreakerChange = obs.BreakerChanged
	}
	return o
}

// WithParams returns o with what the hub hands a connector for its client
// in connectors.Params: the breaker observer (WithBreakers) and the
// destination's rate limit. Connectors build their client with it:
//
//	b := outbound.NewBase(typeName, p, c.Settings) // uses WithParams
func (o Options) WithParams(p connectors.Params) Options {
	o = o.WithBreakers(p.Breakers)
	if p.Limiter != nil {
		o.Limiter = p.Limiter
	}
	return o
}

// Request is one vendor call.
type Request struct {
	Method string
	URL    string
	// Header is sent as is; it is never logged (it holds credentials).
	Header http.Header
	// Body is sent on every try; it is never logged.
	Body []byte
	// IdempotencyKey, when set, is sent as the Idempotency-Key header,
	// identical on every try.
	IdempotencyKey string
	// Once sends the request a single time within the attempt, whatever
	// the answer: for a vendor that ignores idempotency keys, where a blind
	// repeat of a write could apply it twice. The delivery's next attempt
	// (River's retry) is still made, and the connector checks there for an
	// earlier effect before writing again.
	Once bool
	// PathTemplate is the path as logged, with ids replaced, e.g.
	// "/v1/customers/{id}". When empty it is derived from URL by
	// PathTemplate, which can only guess which segments are ids.
	PathTemplate string
}

// Response is the vendor's final answer.
type Response struct {
	Status int
	Header http.Header
	// Body is the whole answer body.
	Body []byte
}

// MaxBody is the default of Options.MaxResponseBytes.
const MaxBody = 4 << 20

// ErrResponseTooLarge is wrapped by the error of an answer over
// Options.MaxResponseBytes (a *connectors.ResponseTooLargeError, which
// holds the limit).
var ErrResponseTooLarge = connectors.ErrResponseTooLarge

// Client sends requests to one destination. It is safe for concurrent use.
type Client struct {
	o       Options
	http    *retryablehttp.Client
	breaker *gobreaker.CircuitBreaker[*Response]
	log     *slog.Logger
	// openedAt is when the breaker last opened (UnixNano), for RetryAfter.
	openedAt atomic.Int64
	// changes are breaker transitions recorded under the breaker's lock
	// and not yet given to Options.OnBreakerChange; reportMu keeps the
	// reports in order when several calls finish at once.
	changesMu sync.Mutex
	changes   []breakerChange
	reportMu  sync.Mutex
}

// breakerChange is one transition of the breaker.
type breakerChange struct{ from, to string }

// New builds a Client.
func New(o Options) *Client {
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.RetryMax == 0 {
		o.RetryMax = 2
	} else if o.RetryMax < 0 {
		o.RetryMax = 0
	}
	if o.RetryWaitMin <= 0 {
		o.RetryWaitMin = 100 * time.Millisecond
	}
	if o.RetryWaitMax <= 0 {
		o.RetryWaitMax = 2 * time.Second
	}
	if o.RetryWaitMax < o.RetryWaitMin {
		o.RetryWaitMax = o.RetryWaitMin
	}
	if o.MaxInlineRetryAfter <= 0 {
		o.MaxInlineRetryAfter = 2 * time.Second
	}
	if o.BreakerFailures == 0 {
		o.BreakerFailures = 5
	}
	if o.BreakerOpenFor <= 0 {
		o.BreakerOpenFor = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MaxResponseBytes <= 0 {
		o.MaxResponseBytes = MaxBody
	}
	transport := o.Transport
	if transport == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 64
		transport = t
	}
	c := &Client{o: o, log: o.Logger}

	rc := retryablehttp.NewClient()
	rc.HTTPClient = &http.Client{
		// The rate limit comes first: a call it holds back is no try
		// (no log line, no span), and its wait is not the vendor's time.
		Transport: limited(&tryLogger{next: transport, log: o.Logger}, o.Name, o.Limiter),
		Timeout:   o.Timeout,
		// A redirect would be followed with the Authorization header to
		// wherever it points; vendors' write APIs do not redirect.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	rc.Logger = nil // retryablehttp logs full URLs, which can hold PHI
	rc.RetryMax = o.RetryMax
	rc.RetryWaitMin, rc.RetryWaitMax = o.RetryWaitMin, o.RetryWaitMax
	rc.CheckRetry = c.checkRetry
	rc.Backoff = c.backoff
	rc.ErrorHandler = retryablehttp.PassthroughErrorHandler
	c.http = rc

	c.breaker = gobreaker.NewCircuitBreaker[*Response](gobreaker.Settings{
		Name:    o.Name,
		Timeout: o.BreakerOpenFor,
		ReadyToTrip: func(counts gobreaker.Counts) bool {
			return counts.ConsecutiveFailures >= o.BreakerFailures
		},
		IsSuccessful: func(err error) bool { return !vendorUnwell(err) },
		// A caller's cancellation (shutdown, a drained worker) says nothing
		// about the vendor, nor does a call the rate limit held back (it
		// must not close a half-open breaker as if a probe had succeeded).
		IsExcluded: func(err error) bool {
			return errors.Is(err, context.Canceled) || connectors.ClassOf(err) == connectors.Throttled
		},
		OnStateChange: func(name string, from, to gobreaker.State) {
			// Runs under the breaker's lock: record and log only.
			if to == gobreaker.StateOpen {
				c.openedAt.Store(time.Now().UnixNano())
			}
			o.Logger.Warn("circuit breaker changed state", "destination", name, "from", from.String(), "to", to.String())
			if o.OnBreakerChange != nil {
				c.changesMu.Lock()
				c.changes = append(c.changes, breakerChange{from: from.String(), to: to.String()})
				c.changesMu.Unlock()
			}
		},
	})
	return c
}

// BreakerState is "closed", "half-open" or "open". Reading it can move an
// open breaker whose time is up to half-open, which is reported like any
// other change.
func (c *Client) BreakerState() string {
	s := c.breaker.State().String()
	c.reportChanges()
	return s
}

// reportChanges gives the recorded transitions to Options.OnBreakerChange,
// oldest first. It runs after the breaker's lock is released (gobreaker
// calls OnStateChange while holding it, so the observer cannot be called
// from there without stalling every caller of the breaker).
func (c *Client) reportChanges() {
	if c.o.OnBreakerChange == nil {
		return
	}
	c.reportMu.Lock()
	defer c.reportMu.Unlock()
	c.changesMu.Lock()
	pending := c.changes
	c.changes = nil
	c.changesMu.Unlock()
	for _, ch := range pending {
		c.o.OnBreakerChange(c.o.Name, ch.from, ch.to)
	}
}

// Do sends r as one delivery attempt (see the package documentation).
//
// On a 2xx answer it returns the Response and a nil error.
//
// On any other final answer it returns the Response AND a *connectors.Error:
// Class from Options.Classify or connectors.ClassifyStatus, Status, Code
// "http_<status>", and RetryAfter from the answer's Retry-After (seconds or
// an HTTP-date). Connectors read the Response's body for the vendor's error
// code and may extend Code with it; they must not copy vendor messages,
// which can echo the request.
//
// When the answer's body is over Options.MaxResponseBytes the Response is
// nil and the error is a Permanent *connectors.Error with Code
// "response_too_large" and the answer's Status, wrapping a
// *connectors.ResponseTooLargeError (errors.Is ErrResponseTooLarge): the
// vendor is well, the request asked for too much at once. It does not
// count against the breaker.
//
// When no complete answer arrived (connection error, timeout, unreadable
// body, cancelled ctx) the Response is nil and the error is a Retryable
// *connectors.Error with Code "timeout", "connection" or "canceled" (the
// last wraps ctx's error). When the breaker is open the Response is nil and
// the error has Class BreakerOpen, Code "breaker_open" and RetryAfter the
// time left until the breaker half-opens (BreakerOpenFor when unknown).
func (c *Client) Do(ctx context.Context, r Request) (*Response, error) {
	start := time.Now()
	try := &tryInfo{
		destination:  c.o.Name,
		method:       r.Method,
		host:         host(r.URL),
		pathTemplate: r.PathTemplate,
		once:         r.Once,
	}
	if try.pathTemplate == "" {
		try.pathTemplate = PathTemplate(r.URL)
	}
	resp, err := c.breaker.Execute(func() (*Response, error) { return c.send(ctx, r, try) })
	c.reportChanges()
	if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
		wait := c.openRemaining()
		if errors.Is(err, gobreaker.ErrTooManyRequests) {
			wait = c.probeWait() // half-open: the probe's answer is near
		}
		resp, err = nil, &connectors.Error{
			Class:      connectors.BreakerOpen,
			Code:       "breaker_open",
			RetryAfter: wait,
			Err:        fmt.Errorf("circuit breaker of destination %q is open", c.o.Name),
		}
	}
	if connectors.ClassOf(err) == connectors.Throttled {
		// Expected whenever the queue is ahead of the vendor's limit: the
		// metric counts it, the log need not shout.
		c.log.LogAttrs(ctx, slog.LevelDebug, "vendor call held back by the rate limit", try.attrs()...)
		return nil, err
	}
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.Status
		}
		c.log.LogAttrs(ctx, slog.LevelWarn, "vendor call failed", append(try.attrs(),
			slog.Int("status", status),
			slog.Int("attempt_try", try.tries),
			slog.Int64("duration_ms", time.Since(start).Milliseconds()),
			slog.String("error_class", string(connectors.ClassOf(err))),
			slog.String("error_code", codeOf(err)),
		)...)
	}
	return resp, err
}

func (c *Client) send(ctx context.Context, r Request, try *tryInfo) (*Response, error) {
	req, err := retryablehttp.NewRequestWithContext(context.WithValue(ctx, tryKey{}, try), r.Method, r.URL, r.Body)
	if err != nil {
		// The parse error quotes the URL: keep only that it failed.
		return nil, connectors.PermanentError("bad_request_url", errors.New("could not build the vendor request"))
	}
	for k, vs := range r.Header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if r.IdempotencyKey != "" {
		req.Header.Set("Idempotency-Key", r.IdempotencyKey)
	}
	hr, err := c.http.Do(req)
	if ce := (*connectors.Error)(nil); errors.As(err, &ce) && ce.Class == connectors.Throttled {
		return nil, ce
	}
	if err != nil {
		return nil, transportError(ctx, r, err)
	}
	defer hr.Body.Close()
	// One byte over the limit tells a body of exactly the limit from a
	// longer one.
	body, err := io.ReadAll(io.LimitReader(hr.Body, c.o.MaxResponseBytes+1))
	if err != nil {
		return nil, transportError(ctx, r, err)
	}
	if int64(len(body)) > c.o.MaxResponseBytes {
		return nil, &connectors.Error{
			Class:  connectors.Permanent,
			Status: hr.StatusCode,
			Code:   "response_too_large",
			Err:    &connectors.ResponseTooLargeError{Limit: c.o.MaxResponseBytes},
		}
	}
	resp := &Response{Status: hr.StatusCode, Header: hr.Header, Body: body}
	if hr.StatusCode >= 200 && hr.StatusCode < 300 {
		return resp, nil
	}
	return resp, &connectors.Error{
		Class:      c.classify(hr.StatusCode, hr.Header),
		Status:     hr.StatusCode,
		RetryAfter: retryAfter(hr.Header),
		Code:       fmt.Sprintf("http_%d", hr.StatusCode),
	}
}

// openRemaining is how long until the breaker lets a probe through.
func (c *Client) openRemaining() time.Duration {
	if at := c.openedAt.Load(); at != 0 {
		if d := time.Until(time.Unix(0, at).Add(c.o.BreakerOpenFor)); d > 0 {
			return d
		}
		return c.probeWait() // half-open with its probe in flight
	}
	return c.o.BreakerOpenFor // never seen opening
}

// probeWait is how long a call turned away while the half-open breaker's
// probe is in flight waits: a tenth of the open period, at most 2 s. The
// probe decides soon: if it fails, the caller comes back to an open breaker
// and waits out the new period; if it succeeds, the caller goes through at
// once. Waiting a whole open period instead held a drained backlog back
// another 30 s after the vendor had returned (make chaos, vendor-down).
func (c *Client) probeWait() time.Duration {
	return max(min(c.o.BreakerOpenFor/10, 2*time.Second), 10*time.Millisecond)
}

func codeOf(err error) string {
	var ce *connectors.Error
	if errors.As(err, &ce) {
		return ce.Code
	}
	return ""
}
