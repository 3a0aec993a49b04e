package outbound

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/switchboard-health/switchboard/connectors"
)

// classify is the class of a non-2xx answer.
func (c *Client) classify(status int, h http.Header) connectors.Class {
	class, _ := c.classifyBy(status, h)
	return class
}

// classifyBy also says whether the vendor's own signal (Options.Classify)
// decided, rather than the status.
func (c *Client) classifyBy(status int, h http.Header) (class connectors.Class, byVendor bool) {
	if c.o.Classify != nil {
		if class := c.o.Classify(status, h); class != "" {
			return class, true
		}
	}
	return classifyStatus(status), false
}

func classifyStatus(status int) connectors.Class {
	if status >= 300 && status < 400 {
		// Redirects are not followed (they would carry the credentials
		// along); one means base_url is wrong, which no retry fixes.
		return connectors.Permanent
	}
	return connectors.ClassifyStatus(status)
}

// checkRetry decides whether to try again within the attempt.
func (c *Client) checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	if t, _ := ctx.Value(tryKey{}).(*tryInfo); t != nil && t.once {
		return false, nil
	}
	if connectors.ClassOf(err) == connectors.Throttled {
		return false, nil // the rate limit's wait is the queue's to honour
	}
	if err != nil {
		return true, nil // connection error or timeout of one try
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return false, nil
	}
	class, byVendor := c.classifyBy(resp.StatusCode, resp.Header)
	if class != connectors.Retryable {
		return false, nil
	}
	if resp.StatusCode == http.StatusConflict && !byVendor {
		return false, nil // the conflicting writer needs longer than our backoff
	}
	if ra := retryAfter(resp.Header); ra > c.o.MaxInlineRetryAfter {
		return false, nil // the queue honours a long Retry-After, not this goroutine
	}
	return true, nil
}

// backoff waits the vendor's Retry-After when it fits inline, else grows
// exponentially from minWait, capped at maxWait, with the upper half
// jittered so that many workers do not retry in step.
func (c *Client) backoff(minWait, maxWait time.Duration, n int, resp *http.Response) time.Duration {
	if resp != nil {
		if ra := retryAfter(resp.Header); ra > 0 && ra <= c.o.MaxInlineRetryAfter {
			return ra
		}
	}
	d := maxWait
	if n < 32 {
		if e := minWait << n; e > 0 && e < maxWait {
			d = e
		}
	}
	half := d / 2
	return half + rand.N(d-half+1)
}

// retryAfter parses Retry-After: delay-seconds or an HTTP-date. Zero when
// absent, malformed or in the past.
func retryAfter(h http.Header) time.Duration {
	v := h.Get("Retry-After")
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s <= 0 {
			return 0
		}
		if s > 7*24*3600 {
			s = 7 * 24 * 3600 // a nonsense value must not overflow or park a job for years
		}
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}

// vendorUnwell says whether a failed attempt counts against the breaker:
// no answer, or an answer that says the vendor is down or overloaded.
func vendorUnwell(err error) bool {
	if err == nil {
		return false
	}
	var ce *connectors.Error
	if !errors.As(err, &ce) {
		return true
	}
	if ce.Class != connectors.Retryable {
		return false
	}
	switch {
	case ce.Code == "timeout", ce.Code == "connection":
		return true
	case ce.Status == http.StatusTooManyRequests:
		// A 429 that says when to come back is a vendor at work, pacing
		// its callers: the delivery honours its Retry-After. Counting it
		// against the breaker opened it for its whole period (30 s)
		// whatever the vendor asked (RELIABILITY.md measured 31 s for a
		// Retry-After of 3 s). A bare 429 still counts.
		return ce.RetryAfter <= 0
	case ce.Status >= 500, ce.Status == http.StatusRequestTimeout:
		return true
	}
	return false
}

// transportError classifies a failure to get a complete answer. The
// underlying error is dropped: url.Error's text holds the full URL.
func transportError(ctx context.Context, r Request, err error) *connectors.Error {
	if ctx.Err() != nil {
		code := "canceled"
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			code = "timeout"
		}
		return &connectors.Error{Class: connectors.Retryable, Code: code,
			Err: fmt.Errorf("%s to %s: %w", r.Method, host(r.URL), ctx.Err())}
	}
	code := transportCode(err)
	return &connectors.Error{Class: connectors.Retryable, Code: code,
		Err: fmt.Errorf("%s to %s failed: %s", r.Method, host(r.URL), code)}
}

// transportCode is "timeout" or "connection".
func transportCode(err error) string {
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	return "connection"
}
