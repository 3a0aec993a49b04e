package outbound

import (
	"context"
	"net/http"
	"time"

	"github.com/switchboard-health/switchboard/connectors"
)

// limitUnavailableWait is how long a call waits when the rate limit cannot
// be consulted (its database is unreachable): holding the call back keeps
// the vendor's limit whatever happens, and the queue cannot record much
// without its database anyway.
const limitUnavailableWait = time.Second

// limiter takes a place in the destination's rate limit before every HTTP
// try, and waits for it when the place reserved is a little ahead. When no
// place is free soon, the first try of a Do ends the call with a Throttled
// error before anything reaches the vendor, so the queue snoozes the
// delivery without spending an attempt. A later try (an inline retry
// after a 5xx) keeps asking instead: the attempt has already reached the
// vendor, and ending it as throttled would hide the vendor's failure from
// the attempt count.
type limiter struct {
	next http.RoundTripper
	name string
	lim  connectors.Limiter
}

func limited(next http.RoundTripper, name string, lim connectors.Limiter) http.RoundTripper {
	if lim == nil {
		return next
	}
	return &limiter{next: next, name: name, lim: lim}
}

func (l *limiter) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	try, _ := ctx.Value(tryKey{}).(*tryInfo)
	for {
		delay, ok, err := l.lim.Take(ctx)
		if err != nil {
			delay, ok = limitUnavailableWait, false
		}
		if ok || try != nil && try.tries > 0 {
			if err := sleep(ctx, delay); err != nil {
				return nil, err
			}
			if ok {
				return l.next.RoundTrip(req)
			}
			continue
		}
		return nil, connectors.ThrottledError(l.name, delay)
	}
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
