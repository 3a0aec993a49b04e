package alert

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// The published test vector of Standard Webhooks (the reference Go
// library's TestWebhookSign, github.com/standard-webhooks/standard-webhooks
// libraries/go/webhook_test.go; the same vector is in its PHP, Java and
// other libraries). A receiver's off-the-shelf library accepts our alerts
// only if we reproduce it exactly: key from the base64, not the text.
func TestSignatureMatchesTheStandardWebhooksVector(t *testing.T) {
	key, err := ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	SignRequest(h, key, "msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
	want := http.Header{
		"Webhook-Id":        {"msg_p5jXN8AQM9LWM0D4loKWxJek"},
		"Webhook-Timestamp": {"1614265330"},
		"Webhook-Signature": {"v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="},
	}
	for k, v := range want {
		if got := h.Values(k); !slices.Equal(got, v) {
			t.Errorf("%s: %q, want %q", k, got, v)
		}
	}
}

func TestParseSecret(t *testing.T) {
	for _, c := range []struct{ secret, want string }{
		{"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "must start with whsec_"},
		{"whsec_not base64!", "not base64"},
		{"whsec_c2hvcnQ=", "is 5 bytes, at least 24"},
	} {
		_, err := ParseSecret(c.secret)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.secret, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), strings.TrimPrefix(c.secret, "whsec_")) {
			t.Errorf("the error quotes the secret: %v", err)
		}
	}
}

// TestPayloadHoldsNoPHI: the body carries the Standard Webhooks envelope
// and, in data, only the keys an alert is allowed (a destination name,
// counts, a window, a breaker state); never a transfer, a resource type or
// anything from a payload.
func TestPayloadHoldsNoPHI(t *testing.T) {
	at := time.Date(2026, 11, 23, 2, 0, 0, 0, time.UTC)
	allowed := []string{"destination", "failures", "window", "threshold", "breaker_state"}
	for _, a := range []Alert{
		{Type: TypeFailures, Destination: "ehr", Failures: 12, Window: "15m", Threshold: 10, At: at},
		{Type: TypeBreakerOpen, Destination: "payments", BreakerState: "open", At: at},
		{Type: TypeRecovered, Destination: "payments", BreakerState: "closed", At: at},
	} {
		body, err := a.Payload()
		if err != nil {
			t.Fatal(err)
		}
		var top map[string]json.RawMessage
		if err := json.Unmarshal(body, &top); err != nil {
			t.Fatal(err)
		}
		if keys := sortedKeys(top); !slices.Equal(keys, []string{"data", "timestamp", "type"}) {
			t.Errorf("%s: top-level keys %v", a.Type, keys)
		}
		var d map[string]any
		if err := json.Unmarshal(top["data"], &d); err != nil {
			t.Fatal(err)
		}
		for k := range d {
			if !slices.Contains(allowed, k) {
				t.Errorf("%s: data has %q, which an alert must not carry", a.Type, k)
			}
		}
		if d["destination"] != a.Destination || string(top["timestamp"]) != `"2026-11-23T02:00:00Z"` {
			t.Errorf("%s: %s", a.Type, body)
		}
	}
	// The job's args are as plain: the alert and its key.
	args, _ := json.Marshal(Args{Alert: Alert{Type: TypeFailures, Destination: "ehr", At: at}, Key: "k"})
	var top map[string]json.RawMessage
	_ = json.Unmarshal(args, &top)
	if keys := sortedKeys(top); !slices.Equal(keys, []string{"alert", "key"}) {
		t.Errorf("args keys %v", keys)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func TestFormatWindow(t *testing.T) {
	for d, want := range map[time.Duration]string{
		15 * time.Minute: "15m", time.Hour: "1h", 90 * time.Minute: "1h30m", 90 * time.Second: "1m30s", 24 * time.Hour: "24h",
	} {
		if got := FormatWindow(d); got != want {
			t.Errorf("%v: %q, want %q", d, got, want)
		}
	}
}

func TestMessageIDIsStablePerAlertPeriod(t *testing.T) {
	at := time.Date(2026, 11, 23, 2, 3, 0, 0, time.UTC)
	a := MessageID(key(TypeFailures, "ehr", 15*time.Minute, at))
	if b := MessageID(key(TypeFailures, "ehr", 15*time.Minute, at.Add(10*time.Minute))); a != b {
		t.Errorf("same window, different ids: %s %s", a, b)
	}
	for _, other := range []string{
		key(TypeFailures, "ehr", 15*time.Minute, at.Add(15*time.Minute)),
		key(TypeFailures, "payments", 15*time.Minute, at),
		key(TypeBreakerOpen, "ehr", 15*time.Minute, at),
	} {
		if MessageID(other) == a {
			t.Errorf("%s shares the id of another alert", other)
		}
	}
	if !strings.HasPrefix(a, "msg_") || len(a) != 36 {
		t.Errorf("id %q", a)
	}
}
