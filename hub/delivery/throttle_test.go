package delivery

import (
	"testing"
	"time"

	"github.com/switchboard-health/switchboard/connectors"
)

func TestThrottleWaitGrowsWithSnoozesAndStaysBounded(t *testing.T) {
	cases := []struct {
		retryAfter time.Duration
		snoozes    int
		least      time.Duration // before jitter
	}{
		{0, 0, throttleWaitMin},
		{5 * time.Millisecond, 0, throttleWaitMin},          // never below the floor
		{300 * time.Millisecond, 0, 300 * time.Millisecond}, // the limit's own wait
		{0, 3, 8 * throttleWaitMin},                         // doubling with each snooze
		{0, 40, throttleWaitMax},                            // up to the cap
		{3 * time.Second, 40, 3 * time.Second},              // a longer wait the limit asks for is kept
	}
	for _, c := range cases {
		for range 50 {
			got := throttleWait(connectors.ThrottledError("crm", c.retryAfter), c.snoozes)
			if got < c.least || got > c.least+c.least/2 {
				t.Fatalf("retry after %s, %d snoozes: %s, want %s to %s", c.retryAfter, c.snoozes, got, c.least, c.least+c.least/2)
			}
		}
	}
}
