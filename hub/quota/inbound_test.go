package quota

import (
	"testing"
	"time"
)

func TestInboundAdmitsABurstThenAsksToWait(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	in := &Inbound{Now: func() time.Time { return now }}
	l := Limit{PerSecond: 2, Burst: 3}

	for i := 0; i < 3; i++ {
		if wait := in.Admit("client:a", l); wait != 0 {
			t.Fatalf("request %d of the burst: asked to wait %s", i+1, wait)
		}
	}
	wait := in.Admit("client:a", l)
	if wait != 500*time.Millisecond {
		t.Fatalf("past the burst: wait %s, want 500ms (one token at 2/s)", wait)
	}
	// A refused request takes nothing: asking again at once gives the
	// same wait, not a longer one.
	if again := in.Admit("client:a", l); again != wait {
		t.Errorf("asking again: wait %s, want %s", again, wait)
	}
	// Another caller has its own bucket.
	if w := in.Admit("client:b", l); w != 0 {
		t.Errorf("another client waits %s for the first one's burst", w)
	}
	now = now.Add(wait)
	if w := in.Admit("client:a", l); w != 0 {
		t.Errorf("after the wait: still asked to wait %s", w)
	}
	if w := in.Admit("client:a", l); w == 0 {
		t.Error("one token refilled, two requests admitted")
	}
}

func TestInboundFollowsAChangedLimit(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	in := &Inbound{Now: func() time.Time { return now }}
	in.Admit("client:a", Limit{PerSecond: 1, Burst: 1})
	if w := in.Admit("client:a", Limit{PerSecond: 1, Burst: 1}); w != time.Second {
		t.Fatalf("wait %s, want 1s", w)
	}
	// The client's own limit was raised (a new token cached): the faster
	// rate applies from now on.
	if w := in.Admit("client:a", Limit{PerSecond: 10, Burst: 1}); w != 100*time.Millisecond {
		t.Errorf("after raising the rate to 10/s: wait %s, want 100ms", w)
	}
}

func TestInboundDropsFullBuckets(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	in := &Inbound{Now: func() time.Time { return now }}
	for i := 0; i < sweepAbove; i++ {
		in.Admit(string(rune(i)), Limit{PerSecond: 1, Burst: 1})
	}
	now = now.Add(time.Second) // every bucket full again
	in.Admit("client:new", Limit{PerSecond: 1, Burst: 1})
	if n := len(in.buckets); n != 1 {
		t.Errorf("%d buckets kept; the full ones should have been dropped", n)
	}
}
