package webhook

import (
	"time"

	"github.com/switchboard-health/switchboard/connectors"
)

// Rejection is a webhook that failed verification. It wraps
// connectors.ErrUnauthenticated, so the hub answers 401 for any of them.
//
// Reason is a short fixed phrase chosen by the verifier ("missing
// Stripe-Signature header", "timestamp outside tolerance", "no signature
// matched"), never a header value or any part of the body: a rejected
// request is unauthenticated input and may carry PHI, and Reason ends up in
// logs and metrics labels.
type Rejection struct {
	// Scheme names the signature scheme, e.g. "stripe" or "standard".
	Scheme string
	// Reason says what failed, from a small fixed set per scheme.
	Reason string
}

func (r *Rejection) Error() string {
	return r.Scheme + " webhook rejected: " + r.Reason
}

// Unwrap makes errors.Is(err, connectors.ErrUnauthenticated) true.
func (r *Rejection) Unwrap() error { return connectors.ErrUnauthenticated }

// Reject returns a *Rejection for scheme with reason. reason must be a
// constant phrase, never built from the request.
func Reject(scheme, reason string) error {
	return &Rejection{Scheme: scheme, Reason: reason}
}

// OutsideTolerance reports whether ts is more than tolerance before or
// after now. Both directions count: a request stamped in the future would
// otherwise stay replayable for longer than the tolerance, and a sender's
// clock that far ahead is a fault worth seeing.
func OutsideTolerance(ts, now time.Time, tolerance time.Duration) bool {
	d := now.Sub(ts)
	return d > tolerance || d < -tolerance
}
