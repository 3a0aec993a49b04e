package outbound

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-health/switchboard/connectors"
)

// scriptedLimiter answers Take from a script, then grants at once.
type scriptedLimiter struct {
	mu      sync.Mutex
	answers []take
	takes   int
}

type take struct {
	delay time.Duration
	ok    bool
}

func (l *scriptedLimiter) Take(context.Context) (time.Duration, bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.takes++
	if len(l.answers) == 0 {
		return 0, true, nil
	}
	a := l.answers[0]
	l.answers = l.answers[1:]
	return a.delay, a.ok, nil
}

func TestRateLimitHoldsTheFirstTryBackWithoutCallingTheVendor(t *testing.T) {
	v := newVendor(t, func(_ int64, w http.ResponseWriter) { w.WriteHeader(http.StatusCreated) })
	lim := &scriptedLimiter{answers: []take{{delay: 700 * time.Millisecond, ok: false}}}
	c := New(fast(Options{Name: "crm", Limiter: lim, BreakerFailures: 1}))

	resp, ce := post(t, c, v.URL)
	if ce == nil || ce.Class != connectors.Throttled || ce.Code != "throttled" || ce.RetryAfter != 700*time.Millisecond || resp != nil {
		t.Fatalf("want a Throttled error with the limit's wait: %+v", ce)
	}
	if v.calls.Load() != 0 {
		t.Fatal("a call the limit held back reached the vendor")
	}
	if c.BreakerState() != "closed" {
		t.Fatal("a held-back call counted against the vendor's breaker")
	}
	// The next call finds a place and goes.
	if _, ce := post(t, c, v.URL); ce != nil || v.calls.Load() != 1 {
		t.Fatalf("second call: %v, vendor calls %d", ce, v.calls.Load())
	}
}

func TestRateLimitWaitsForAPlaceReservedAhead(t *testing.T) {
	v := newVendor(t, func(_ int64, w http.ResponseWriter) { w.WriteHeader(http.StatusCreated) })
	lim := &scriptedLimiter{answers: []take{{delay: 150 * time.Millisecond, ok: true}}}
	c := New(fast(Options{Name: "crm", Limiter: lim}))
	start := time.Now()
	if _, ce := post(t, c, v.URL); ce != nil {
		t.Fatal(ce)
	}
	if took := time.Since(start); took < 150*time.Millisecond {
		t.Errorf("the call went after %s, before its place (150ms)", took)
	}
	if lim.takes != 1 || v.calls.Load() != 1 {
		t.Errorf("takes %d, vendor calls %d; want 1 and 1", lim.takes, v.calls.Load())
	}
}

func TestRateLimitEveryTryTakesAPlace(t *testing.T) {
	// The first try gets a 503; its inline retry finds no place at first
	// and waits for one rather than ending the attempt as throttled (the
	// attempt has reached the vendor already).
	v := newVendor(t, func(n int64, w http.ResponseWriter) {
		if n == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusCreated)
	})
	lim := &scriptedLimiter{answers: []take{{ok: true}, {delay: 20 * time.Millisecond, ok: false}, {ok: true}}}
	c := New(fast(Options{Name: "crm", Limiter: lim, RetryMax: 2}))
	if _, ce := post(t, c, v.URL); ce != nil {
		t.Fatalf("want the retry delivered: %v", ce)
	}
	if lim.takes != 3 || v.calls.Load() != 2 {
		t.Errorf("takes %d, vendor calls %d; want 3 takes for 2 tries", lim.takes, v.calls.Load())
	}
}
