package connectors

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"
)

// RateLimit is how fast the hub may call one destination's vendor, all
// processes together: a token bucket that holds Burst requests and refills
// at PerSecond. In any window of w seconds the vendor sees at most
// Burst + PerSecond·w requests, so a vendor limit of N requests per window
// W is kept by any Burst + PerSecond·W <= N (HubSpot's 100 per 10 s:
// 9/s with a burst of 10).
type RateLimit struct {
	PerSecond float64 `yaml:"per_second"`
	Burst     int     `yaml:"burst"`
}

// Check reports a limit that cannot work: a rate that is not positive and
// finite, or a burst below one request.
func (r RateLimit) Check() error {
	if !(r.PerSecond > 0) || math.IsInf(r.PerSecond, 0) || r.PerSecond > 1e6 {
		return fmt.Errorf("rate_limit.per_second must be above 0 (and at most 1000000), got %v", r.PerSecond)
	}
	if r.Burst < 1 || r.Burst > 1e6 {
		return fmt.Errorf("rate_limit.burst must be 1 to 1000000 requests, got %d", r.Burst)
	}
	return nil
}

// Interval is the time one request's token takes to refill.
func (r RateLimit) Interval() time.Duration {
	return time.Duration(float64(time.Second) / r.PerSecond)
}

func (r RateLimit) String() string {
	return fmt.Sprintf("%g/s, burst %d", r.PerSecond, r.Burst)
}

// RateLimited is implemented by a connector that knows its vendor's
// published limit: its default when the routing file gives the
// destination no rate_limit. A connector may answer from its configuration
// (Stripe allows test-mode keys a quarter of live mode's rate).
type RateLimited interface {
	DefaultRateLimit() RateLimit
}

// FallbackRateLimit is the limit of a destination whose connector
// publishes none and whose routing file sets none: conservative, as most
// EHRs do not publish theirs and a 429 storm costs more than a slow queue.
func FallbackRateLimit() RateLimit { return RateLimit{PerSecond: 10, Burst: 10} }

// Limiter holds a destination's vendor calls to its rate limit, shared by
// every process of the hub (package quota). Take with ok reserves a place
// for one call, which may go after delay (zero, or a short wait); !ok
// means no place is free soon: nothing was taken, ask again after delay.
// An error means the limit could not be consulted.
type Limiter interface {
	Take(ctx context.Context) (delay time.Duration, ok bool, err error)
}

// ThrottledError is the error of a call the destination's rate limit held
// back before it reached the vendor: class Throttled, code "throttled",
// RetryAfter the wait.
func ThrottledError(destination string, wait time.Duration) *Error {
	return &Error{Class: Throttled, Code: "throttled", RetryAfter: wait,
		Err: fmt.Errorf("destination %q is at its rate limit", destination)}
}

// HeldBack reports whether err is a call that never reached the vendor
// because the destination's circuit breaker or rate limit held it back:
// a job should be snoozed for wait (the error's RetryAfter, else a
// second) rather than count a failed attempt.
func HeldBack(err error) (wait time.Duration, ok bool) {
	var ce *Error
	if !errors.As(err, &ce) || ce.Class != BreakerOpen && ce.Class != Throttled {
		return 0, false
	}
	if ce.RetryAfter > 0 {
		return ce.RetryAfter, true
	}
	return time.Second, true
}
