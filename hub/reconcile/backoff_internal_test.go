package reconcile

import (
	"testing"
	"time"
)

// (f) backoff doubles per failure and caps at an hour.
func TestBackoff(t *testing.T) {
	cases := []struct {
		interval time.Duration
		failures int
		want     time.Duration
	}{
		{time.Minute, 0, time.Minute},
		{time.Minute, 1, 2 * time.Minute},
		{time.Minute, 2, 4 * time.Minute},
		{time.Minute, 5, 32 * time.Minute},
		{time.Minute, 6, time.Hour}, // 64m capped
		{time.Minute, 16, time.Hour},
		{time.Minute, 17, time.Hour},
		{time.Minute, 1000, time.Hour},
		{5 * time.Minute, 3, 40 * time.Minute},
		{5 * time.Minute, 4, time.Hour},
		{0, 1, 2 * time.Minute}, // no interval: a minute
		{-time.Second, 2, 4 * time.Minute},
		{30 * time.Minute, 1, time.Hour},
		{2 * time.Hour, 0, time.Hour}, // an interval beyond the cap is capped too
		{2 * time.Hour, 1, time.Hour},
		{24 * time.Hour, 16, time.Hour},
		// An interval whose shift overflows must not wrap to a tiny wait.
		{time.Duration(1<<48) + time.Microsecond, 16, time.Hour},
		{time.Duration(1<<47) + time.Microsecond, 17, time.Hour},
	}
	for _, tc := range cases {
		if got := backoff(tc.interval, tc.failures); got != tc.want {
			t.Errorf("backoff(%v, %d) = %v, want %v", tc.interval, tc.failures, got, tc.want)
		}
	}
	// Each failure waits at least as long as the one before.
	prev := time.Duration(0)
	for f := 0; f < 40; f++ {
		d := backoff(7*time.Second, f)
		if d < prev || d > maxBackoff {
			t.Fatalf("backoff(7s, %d) = %v after %v", f, d, prev)
		}
		prev = d
	}
}
