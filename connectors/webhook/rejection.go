package webhook

import (
	"strings"
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

// Rejection codes: Reason in a few words, for a metric label and for the
// transfer log's aggregated rejection rows, where the per-scheme phrases
// would multiply series for no gain.
const (
	// CodeMissingSignature: a header the scheme needs is absent.
	CodeMissingSignature = "missing_signature"
	// CodeMalformedSignature: a header is there but cannot be read.
	CodeMalformedSignature = "malformed_signature"
	// CodeBadSignature: no signature matched any secret.
	CodeBadSignature = "bad_signature"
	// CodeStaleTimestamp: the signed time is outside the tolerance.
	CodeStaleTimestamp = "stale_timestamp"
	// CodeBadJSON: the signed body is not an event the hub can read.
	CodeBadJSON = "bad_json"
	// CodeNotConfigured: the destination has no secret to verify with.
	CodeNotConfigured = "not_configured"
)

// Code sorts Reason into one of the Code constants. Reasons are fixed
// phrases (see Reject), so their words decide; an unknown phrase counts
// as a signature that did not match.
func (r *Rejection) Code() string {
	switch {
	case r.Scheme == "config" || strings.Contains(r.Reason, "no secret") || strings.Contains(r.Reason, "no client secret"):
		return CodeNotConfigured
	case strings.HasPrefix(r.Reason, "missing "):
		return CodeMissingSignature
	case strings.Contains(r.Reason, "timestamp outside"):
		return CodeStaleTimestamp
	case strings.Contains(r.Reason, "body"):
		return CodeBadJSON
	case strings.HasPrefix(r.Reason, "malformed "), strings.HasPrefix(r.Reason, "no v1 signature"),
		strings.HasPrefix(r.Reason, "no timestamp"), strings.Contains(r.Reason, "not passed"):
		return CodeMalformedSignature
	}
	return CodeBadSignature
}
