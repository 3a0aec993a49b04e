package alert

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Alert types, the payload's "type".
const (
	// TypeFailures: a destination's permanent failures reached the
	// threshold within the window.
	TypeFailures = "destination.failures"
	// TypeBreakerOpen: a destination's circuit breaker opened (in at least
	// one worker process): the vendor is failing every call.
	TypeBreakerOpen = "destination.breaker_open"
	// TypeRecovered: a breaker that had opened closed again after a
	// successful probe.
	TypeRecovered = "destination.recovered"
	// TypeResponseTooLarge: one record a polled source holds is larger
	// than the answer limit on its own; polling it stops until an admin
	// raises the destination's max_response_bytes.
	TypeResponseTooLarge = "destination.response_too_large"
)

// ResponseTooLargePeriod is how often a source's TypeResponseTooLarge
// alert may repeat while its polls keep failing.
const ResponseTooLargePeriod = time.Hour

// Alert is what an admin is told. Every field is PHI-free by construction:
// it names a destination and counts, never a transfer or a resource.
type Alert struct {
	// Type is one of TypeFailures, TypeBreakerOpen, TypeRecovered and
	// TypeResponseTooLarge.
	Type string `json:"type"`
	// Destination is the destination's configured name.
	Destination string `json:"destination"`
	// Failures, Window ("15m") and Threshold describe a TypeFailures alert:
	// Failures permanent failures within the last Window.
	Failures  int    `json:"failures,omitempty"`
	Window    string `json:"window,omitempty"`
	Threshold int    `json:"threshold,omitempty"`
	// BreakerState is the breaker's new state ("open", "closed") for the
	// breaker alerts.
	BreakerState string `json:"breaker_state,omitempty"`
	// At is when the hub noticed.
	At time.Time `json:"at"`
}

// payload is the Standard Webhooks body: {"type","timestamp","data"}.
type payload struct {
	Type      string `json:"type"`
	Timestamp string `json:"timestamp"`
	Data      data   `json:"data"`
}

// data is the alert's "data": the only keys an alert ever carries.
type data struct {
	Destination  string `json:"destination"`
	Failures     int    `json:"failures,omitempty"`
	Window       string `json:"window,omitempty"`
	Threshold    int    `json:"threshold,omitempty"`
	BreakerState string `json:"breaker_state,omitempty"`
}

// Payload is the JSON body sent for a: Standard Webhooks' recommended
// shape, with the alert's time as "timestamp" (RFC 3339, UTC).
func (a Alert) Payload() ([]byte, error) {
	b, err := json.Marshal(payload{
		Type:      a.Type,
		Timestamp: a.At.UTC().Format(time.RFC3339Nano),
		Data: data{
			Destination:  a.Destination,
			Failures:     a.Failures,
			Window:       a.Window,
			Threshold:    a.Threshold,
			BreakerState: a.BreakerState,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("alert: encode %s payload: %w", a.Type, err)
	}
	return b, nil
}

// key names one alert for de-duplication: its type, destination and the
// start of the period it belongs to. Two processes noticing the same
// trouble in the same period make the same key.
func key(typ, destination string, period time.Duration, at time.Time) string {
	return fmt.Sprintf("%s/%s/%d", typ, destination, at.Truncate(period).Unix())
}

// MessageID is the webhook-id of the alert keyed k: stable across River's
// retries, so a receiver that saw the first try drops the rest. It is a
// digest of the key ("msg_" and 32 hex digits), which keeps the id short
// and plain whatever the destination's name.
func MessageID(k string) string {
	sum := sha256.Sum256([]byte(Kind + "\x00" + k))
	return "msg_" + hex.EncodeToString(sum[:16])
}

// FormatWindow writes a window as an admin would, "15m" rather than
// Go's "15m0s".
func FormatWindow(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
