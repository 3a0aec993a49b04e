package delivery

import (
	"math/rand/v2"
	"time"

	"github.com/riverqueue/river/rivertype"
)

// RetryPolicy is exponential backoff with jitter: Base, 2·Base, 4·Base, ...
// capped at Max, each ±20%. River's default (attempt⁴ seconds) waits 4 hours
// by the 12th try; vendors' outages are usually shorter and operators want a
// bound they can reason about.
type RetryPolicy struct {
	Base time.Duration
	Max  time.Duration
}

// NextRetry implements river.ClientRetryPolicy.
func (p RetryPolicy) NextRetry(job *rivertype.JobRow) time.Time {
	return time.Now().Add(p.Backoff(job.Attempt))
}

// Backoff is the wait after the given attempt (counting from 1).
func (p RetryPolicy) Backoff(attempt int) time.Duration {
	base, maxWait := p.Base, p.Max
	if base <= 0 {
		base = 2 * time.Second
	}
	if maxWait <= 0 {
		maxWait = time.Hour
	}
	d := base
	for i := 1; i < attempt && d < maxWait; i++ {
		d *= 2
	}
	if d > maxWait {
		d = maxWait
	}
	jitter := 0.8 + 0.4*rand.Float64()
	return time.Duration(float64(d) * jitter)
}
