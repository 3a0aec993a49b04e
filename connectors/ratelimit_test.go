package connectors

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestHeldBack(t *testing.T) {
	cases := []struct {
		name string
		err  error
		wait time.Duration
		ok   bool
	}{
		{"throttled", ThrottledError("crm", 300*time.Millisecond), 300 * time.Millisecond, true},
		{"throttled, wrapped", fmt.Errorf("lookup: %w", ThrottledError("ehr", 2*time.Second)), 2 * time.Second, true},
		{"breaker open", &Error{Class: BreakerOpen, RetryAfter: 5 * time.Second}, 5 * time.Second, true},
		{"breaker open, no wait known", &Error{Class: BreakerOpen}, time.Second, true},
		{"retryable 429 from the vendor", &Error{Class: Retryable, Status: 429, RetryAfter: time.Second}, 0, false},
		{"permanent", PermanentError("bad", errors.New("x")), 0, false},
		{"unclassified", errors.New("x"), 0, false},
		{"nil", nil, 0, false},
	}
	for _, c := range cases {
		if wait, ok := HeldBack(c.err); wait != c.wait || ok != c.ok {
			t.Errorf("%s: HeldBack = %s, %v; want %s, %v", c.name, wait, ok, c.wait, c.ok)
		}
	}
}

func TestRateLimitCheck(t *testing.T) {
	for _, bad := range []RateLimit{{0, 1}, {-1, 1}, {1, 0}, {2e6, 1}, {1, 2e6}} {
		if bad.Check() == nil {
			t.Errorf("%v accepted", bad)
		}
	}
	if err := (RateLimit{PerSecond: 0.5, Burst: 1}).Check(); err != nil {
		t.Error(err)
	}
	if got := (RateLimit{PerSecond: 4, Burst: 1}).Interval(); got != 250*time.Millisecond {
		t.Errorf("interval %s, want 250ms", got)
	}
}
