// Package outbound is the one HTTP client every connector sends through. It
// brings what a vendor call needs and no connector should rewrite: timeouts,
// a few quick retries within one delivery attempt (go-retryablehttp), the
// same Idempotency-Key on every try, a circuit breaker per destination
// (gobreaker), classification of the answer into connectors.Error classes,
// and request logging that never includes a body, a header or a query.
package outbound

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"time"

	"github.com/hashicorp/go-retryablehttp"
	"github.com/sony/gobreaker/v2"

	"github.com/switchboard-health/switchboard/connectors"
)

// Options configures a Client. Zero values take the defaults.
type Options struct {
	Name                string        // destination name: names the breaker
	Timeout             time.Duration // per HTTP try (default 10s)
	RetryMax            int           // extra tries within one attempt (default 2; -1 for none)
	RetryWaitMin        time.Duration // default 100ms
	RetryWaitMax        time.Duration // default 2s
	MaxInlineRetryAfter time.Duration // a longer Retry-After ends the attempt (default 2s)
	BreakerFailures     uint32        // consecutive failed attempts that open the breaker (default 5)
	BreakerOpenFor      time.Duration // default 30s
	Logger              *slog.Logger
	Transport           http.RoundTripper
}

// Request is one vendor call.
type Request struct {
	Method         string
	URL            string
	Header         http.Header
	Body           []byte
	IdempotencyKey string
}

// Response is the vendor's final answer, body read fully (bounded).
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Client sends requests to one destination.
type Client struct {
	o       Options
	http    *retryablehttp.Client
	breaker *gobreaker.CircuitBreaker[*Response]
	log     *slog.Logger
}

const maxBody = 4 << 20

type triesKey struct{}

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
	transport := o.Transport
	if transport == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 64
		transport = t
	}
	c := &Client{o: o, log: o.Logger}
	rc := retryablehttp.NewClient()
	rc.HTTPClient = &http.Client{Transport: transport, Timeout: o.Timeout}
	rc.Logger = nil // it logs full URLs, which can hold PHI
	rc.RetryMax = o.RetryMax
	rc.RetryWaitMin, rc.RetryWaitMax = o.RetryWaitMin, o.RetryWaitMax
	rc.CheckRetry = c.checkRetry
	rc.Backoff = c.backoff
	rc.ErrorHandler = retryablehttp.PassthroughErrorHandler
	rc.RequestLogHook = func(_ retryablehttp.Logger, req *http.Request, n int) {
		if p, ok := req.Context().Value(triesKey{}).(*int); ok {
			*p = n + 1
		}
	}
	c.http = rc
	c.breaker = gobreaker.NewCircuitBreaker[*Response](gobreaker.Settings{
		Name:    o.Name,
		Timeout: o.BreakerOpenFor,
		ReadyToTrip: func(counts gobreaker.Counts) bool {
			return counts.ConsecutiveFailures >= o.BreakerFailures
		},
		IsSuccessful: func(err error) bool {
			// A permanent answer (a 4xx about this request) says the vendor
			// is up; only transport failures and 5xx count against it.
			return err == nil || connectors.ClassOf(err) == connectors.Permanent
		},
		OnStateChange: func(name string, from, to gobreaker.State) {
			o.Logger.Warn("circuit breaker changed state", "destination", name, "from", from.String(), "to", to.String())
		},
	})
	return c
}

// BreakerState is "closed", "half-open" or "open".
func (c *Client) BreakerState() string { return c.breaker.State().String() }

func (c *Client) checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	if err != nil {
		return true, nil
	}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		if ra := retryAfter(resp.Header); ra > c.o.MaxInlineRetryAfter {
			return false, nil // the queue honours a long Retry-After, not this goroutine
		}
		return true, nil
	}
	if v := resp.Header.Get("Stripe-Should-Retry"); v != "" {
		return v == "true", nil
	}
	return resp.StatusCode >= 500 || resp.StatusCode == http.StatusRequestTimeout, nil
}

func (c *Client) backoff(minWait, maxWait time.Duration, n int, resp *http.Response) time.Duration {
	if resp != nil {
		if ra := retryAfter(resp.Header); ra > 0 && ra <= c.o.MaxInlineRetryAfter {
			return ra
		}
	}
	return retryablehttp.LinearJitterBackoff(minWait, maxWait, n, resp)
}

// Do sends r. It returns the Response for every answer that arrived, and a
// *connectors.Error alongside it when the final answer is not 2xx (so a
// connector can read the vendor's error code). On a transport failure or an
// open breaker the Response is nil.
func (c *Client) Do(ctx context.Context, r Request) (*Response, error) {
	start := time.Now()
	tries := 0
	resp, err := c.breaker.Execute(func() (*Response, error) { return c.send(ctx, r, &tries) })
	if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
		return nil, &connectors.Error{Class: connectors.BreakerOpen, Code: "breaker_open", RetryAfter: c.o.BreakerOpenFor, Err: errors.New("circuit breaker open")}
	}
	status := 0
	if resp != nil {
		status = resp.Status
	}
	level := slog.LevelDebug
	if err != nil {
		level = slog.LevelWarn
	}
	c.log.Log(ctx, level, "vendor call", "method", r.Method, "host", host(r.URL),
		"path_template", PathTemplate(r.URL), "status", status, "tries", tries, "duration_ms", time.Since(start).Milliseconds())
	return resp, err
}

func (c *Client) send(ctx context.Context, r Request, tries *int) (*Response, error) {
	req, err := retryablehttp.NewRequestWithContext(ctx, r.Method, r.URL, r.Body)
	if err != nil {
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
	hr, err := c.http.Do(req.WithContext(context.WithValue(ctx, triesKey{}, tries)))
	if err != nil {
		code := "connection"
		var ue *url.Error
		if errors.As(err, &ue) && ue.Timeout() || errors.Is(err, context.DeadlineExceeded) {
			code = "timeout"
		}
		// url.Error's text holds the URL: keep only its kind.
		return nil, &connectors.Error{Class: connectors.Retryable, Code: code, Err: fmt.Errorf("%s to %s failed", r.Method, host(r.URL))}
	}
	defer hr.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(hr.Body, maxBody))
	resp := &Response{Status: hr.StatusCode, Header: hr.Header, Body: body}
	if hr.StatusCode >= 200 && hr.StatusCode < 300 {
		return resp, nil
	}
	class := connectors.ClassifyStatus(hr.StatusCode)
	switch hr.Header.Get("Stripe-Should-Retry") {
	case "true":
		class = connectors.Retryable
	case "false":
		class = connectors.Permanent
	}
	return resp, &connectors.Error{Class: class, Status: hr.StatusCode, RetryAfter: retryAfter(hr.Header), Code: "http_" + strconv.Itoa(hr.StatusCode)}
}

func retryAfter(h http.Header) time.Duration {
	v := h.Get("Retry-After")
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}

func host(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Host
}

var idSegment = regexp.MustCompile(`[^/]*[0-9][^/]*`)
var versionSegment = regexp.MustCompile(`^v[0-9]+$`)

// PathTemplate is the URL's path with every segment that contains a digit
// replaced by {id}, and no query: ids and queries can carry PHI.
func PathTemplate(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return idSegment.ReplaceAllStringFunc(u.Path, func(seg string) string {
		if versionSegment.MatchString(seg) {
			return seg // an API version (/v1/customers), not an id
		}
		return "{id}"
	})
}
