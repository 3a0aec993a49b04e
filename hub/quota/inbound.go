package quota

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limit is a token bucket: Burst requests at once, refilled at PerSecond.
type Limit struct {
	PerSecond float64
	Burst     int
}

// sweepAbove is the number of buckets past which Admit drops the full ones
// (a full bucket is the same as none): the map stays as big as the set of
// callers active lately, whatever callers come and go.
const sweepAbove = 4096

// Inbound holds a token bucket per caller (an API client, a webhook
// source) in this process's memory. It is per process on purpose: the
// inbound limit guards the hub against one caller crowding out the
// others, and asking the database on every request would cost more than
// many of the requests it guards. With N API processes behind a load
// balancer a caller gets up to N times its limit (see
// docs/decisions/0012-rate-limits.md). The zero value is ready; it is safe
// for concurrent use.
type Inbound struct {
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time

	mu      sync.Mutex
	buckets map[string]*rate.Limiter
}

// Admit takes one request's token from key's bucket, made with limit l
// (a bucket whose limit changed is adjusted). It returns zero when the
// request may go on, else how long until a token is free; a refused
// request takes nothing.
func (in *Inbound) Admit(key string, l Limit) (retryAfter time.Duration) {
	now := time.Now()
	if in.Now != nil {
		now = in.Now()
	}
	burst := max(l.Burst, 1)
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.buckets == nil {
		in.buckets = map[string]*rate.Limiter{}
	}
	b, ok := in.buckets[key]
	if !ok {
		if len(in.buckets) >= sweepAbove {
			in.sweep(now)
		}
		b = rate.NewLimiter(rate.Limit(l.PerSecond), burst)
		b.SetBurstAt(now, burst) // starts full, as of now
		in.buckets[key] = b
	}
	if b.Limit() != rate.Limit(l.PerSecond) {
		b.SetLimitAt(now, rate.Limit(l.PerSecond))
	}
	if b.Burst() != burst {
		b.SetBurstAt(now, burst)
	}
	r := b.ReserveN(now, 1)
	if !r.OK() {
		return time.Second
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return d
	}
	return 0
}

// sweep drops the buckets that are full again.
func (in *Inbound) sweep(now time.Time) {
	for k, b := range in.buckets {
		if b.TokensAt(now) >= float64(b.Burst()) {
			delete(in.buckets, k)
		}
	}
}
