package webhook

import (
	"bytes"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-health/switchboard/connectors"
)

// The reference vector of the Standard Webhooks Go library
// (github.com/standard-webhooks/standard-webhooks,
// libraries/go/webhook_test.go, TestWebhookSign), re-checked with Python's
// hmac module before being pasted here.
const (
	refSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	refID        = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	refUnix      = 1614265330
	refBody      = `{"test": 2432232314}`
	refSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func stdRequest(id, ts, sig string, body []byte) connectors.WebhookRequest {
	h := http.Header{}
	if id != "" {
		h.Set(HeaderID, id)
	}
	if ts != "" {
		h.Set(HeaderTimestamp, ts)
	}
	if sig != "" {
		h.Set(HeaderSignature, sig)
	}
	return connectors.WebhookRequest{Method: http.MethodPost, URL: "https://hub.example/webhooks/x", Header: h, Body: body}
}

func mustKey(t testing.TB, serialized string) []byte {
	t.Helper()
	k, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(serialized, "whsec_"))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestStandardReferenceVector(t *testing.T) {
	ts := time.Unix(refUnix, 0)
	if got := Sign(mustKey(t, refSecret), refID, ts, []byte(refBody)); got != refSignature {
		t.Fatalf("Sign = %s, want the reference %s", got, refSignature)
	}
	// The reference libraries accept the secret with or without whsec_.
	for _, secret := range []string{refSecret, strings.TrimPrefix(refSecret, "whsec_")} {
		v, err := NewStandard([]string{secret}, 0)
		if err != nil {
			t.Fatal(err)
		}
		ev, err := v.VerifyWebhook(stdRequest(refID, strconv.Itoa(refUnix), refSignature, []byte(refBody)), ts)
		if err != nil {
			t.Fatalf("reference request rejected: %v", err)
		}
		if ev.ID != refID || !ev.Time.Equal(ts) || string(ev.Body) != refBody || ev.Type != "" {
			t.Errorf("event = %+v", ev)
		}
	}
}

func TestStandardVerify(t *testing.T) {
	current := mustKey(t, "whsec_c2VjcmV0LW51bWJlci1vbmUtMDEyMzQ1Njc4OQ==")
	previous := mustKey(t, "whsec_c2VjcmV0LW51bWJlci10d28tMDEyMzQ1Njc4OQ==")
	retired := mustKey(t, "whsec_cmV0aXJlZC1zZWNyZXQtMDEyMzQ1Njc4OWFiY2Q=")
	v := &Standard{Secrets: [][]byte{current, previous}}

	now := time.Unix(1_700_000_000, 0)
	const id = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"
	body := []byte(`{"type":"contact.created","timestamp":"2022-11-03T20:26:10.344522Z","data":{"id":"1f81eb52"}}`)
	at := func(d time.Duration) string { return strconv.FormatInt(now.Add(d).Unix(), 10) }
	sign := func(key []byte, d time.Duration, b []byte) string { return Sign(key, id, now.Add(d), b) }
	tampered := bytes.Clone(body)
	tampered[len(tampered)-2] = '}' + 1
	forged := "v1," + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))

	tests := []struct {
		name   string
		req    connectors.WebhookRequest
		reason string // "" means it verifies
	}{
		{"signed with the current secret", stdRequest(id, at(0), sign(current, 0, body), body), ""},
		{"signed with the previous secret", stdRequest(id, at(0), sign(previous, 0, body), body), ""},
		{"signed with a retired secret", stdRequest(id, at(0), sign(retired, 0, body), body), "no signature matched"},
		{"forged signature", stdRequest(id, at(0), forged, body), "no signature matched"},
		{"body tampered by one byte", stdRequest(id, at(0), sign(current, 0, body), tampered), "no signature matched"},
		{"id changed", stdRequest("msg_other", at(0), sign(current, 0, body), body), "no signature matched"},
		{"several v1 entries, one good", stdRequest(id, at(0),
			strings.Join([]string{forged, "v2," + sign(current, 0, body)[3:], sign(current, 0, body), "v1a,AAAA", forged}, " "), body), ""},
		{"rotation: old and new secret both sent", stdRequest(id, at(0), sign(retired, 0, body)+" "+sign(previous, 0, body), body), ""},
		{"at the edge of the tolerance, in the past", stdRequest(id, at(-5*time.Minute), sign(current, -5*time.Minute, body), body), ""},
		{"at the edge of the tolerance, in the future", stdRequest(id, at(5*time.Minute), sign(current, 5*time.Minute, body), body), ""},
		{"stale timestamp", stdRequest(id, at(-5*time.Minute-time.Second), sign(current, -5*time.Minute-time.Second, body), body), "timestamp outside tolerance"},
		{"timestamp too far in the future", stdRequest(id, at(5*time.Minute+time.Second), sign(current, 5*time.Minute+time.Second, body), body), "timestamp outside tolerance"},
		{"missing webhook-id", stdRequest("", at(0), sign(current, 0, body), body), "missing webhook-id header"},
		{"missing webhook-timestamp", stdRequest(id, "", sign(current, 0, body), body), "missing webhook-timestamp header"},
		{"missing webhook-signature", stdRequest(id, at(0), "", body), "missing webhook-signature header"},
		{"timestamp not a number", stdRequest(id, "yesterday", sign(current, 0, body), body), "malformed webhook-timestamp header"},
		{"timestamp with a sign", stdRequest(id, "+"+at(0), sign(current, 0, body), body), "malformed webhook-timestamp header"},
		{"timestamp in milliseconds", stdRequest(id, strconv.FormatInt(now.UnixMilli(), 10), sign(current, 0, body), body), "timestamp outside tolerance"},
		{"id with a space", stdRequest("msg 1", at(0), sign(current, 0, body), body), "malformed webhook-id header"},
		{"only an asymmetric v1a signature", stdRequest(id, at(0), "v1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw", body), "no v1 signature in webhook-signature header"},
		{"v1 entry that is not base64", stdRequest(id, at(0), "v1,***", body), "no v1 signature in webhook-signature header"},
		{"signature without a version", stdRequest(id, at(0), sign(current, 0, body)[3:], body), "no v1 signature in webhook-signature header"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := v.VerifyWebhook(tt.req, now)
			if tt.reason == "" {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				if ev.ID != id || ev.Type != "contact.created" || !bytes.Equal(ev.Body, tt.req.Body) {
					t.Errorf("event = %+v", ev)
				}
				return
			}
			assertRejected(t, err, tt.reason, tt.req)
		})
	}
}

// assertRejected checks what a user would see of a rejection: a 401-class
// error naming what failed, and nothing of the request in its text.
func assertRejected(t *testing.T, err error, reason string, req connectors.WebhookRequest) {
	t.Helper()
	if err == nil {
		t.Fatal("verified, want a rejection")
	}
	if !errors.Is(err, connectors.ErrUnauthenticated) {
		t.Fatalf("error %q does not wrap ErrUnauthenticated", err)
	}
	var rej *Rejection
	if !errors.As(err, &rej) || rej.Reason != reason {
		t.Fatalf("error %q, want reason %q", err, reason)
	}
	msg := err.Error()
	for _, values := range req.Header {
		for _, v := range values {
			if len(v) > 3 && strings.Contains(msg, v) {
				t.Errorf("error %q quotes a header value", msg)
			}
		}
	}
	if len(req.Body) > 0 && strings.Contains(msg, string(req.Body)) {
		t.Errorf("error %q quotes the body", msg)
	}
}

func TestStandardTypeIsBestEffort(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	v := &Standard{Secrets: [][]byte{key}}
	now := time.Unix(1_700_000_000, 0)
	for body, want := range map[string]string{
		`{"type":"invoice.paid"}`:       "invoice.paid",
		`{"data":{}}`:                   "",
		`not json`:                      "",
		`{"type":42}`:                   "",
		`{"type":"has spaces in it"}`:   "",
		`[{"type":"inside.an.array"}]`:  "",
		`{"type":"v1.billing.meter_x"}`: "v1.billing.meter_x",
	} {
		req := stdRequest("msg_1", "1700000000", Sign(key, "msg_1", now, []byte(body)), []byte(body))
		ev, err := v.VerifyWebhook(req, now)
		if err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		if ev.Type != want {
			t.Errorf("%s: Type = %q, want %q", body, ev.Type, want)
		}
	}
}

func TestStandardWithoutSecretsRejects(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	req := stdRequest("msg_1", "1700000000", Sign(nil, "msg_1", now, nil), nil)
	_, err := (&Standard{}).VerifyWebhook(req, now)
	assertRejected(t, err, "no secret configured", req)
}

func TestNewStandardErrors(t *testing.T) {
	const secret = "whsec_not*base64*at-all"
	tests := []struct {
		name      string
		secrets   []string
		tolerance time.Duration
		want      string
	}{
		{"no secrets", nil, 0, "no secret configured"},
		{"second secret malformed", []string{refSecret, secret}, 0, "secret 1 is not base64"},
		{"empty secret", []string{"whsec_"}, 0, "secret 0 is empty"},
		{"negative tolerance", []string{refSecret}, -time.Second, "tolerance must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewStandard(tt.secrets, tt.tolerance)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "base64*") {
				t.Errorf("error %q quotes the secret", err)
			}
		})
	}
}

func TestStandardToleranceIsConfigurable(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	now := time.Unix(1_700_000_000, 0)
	old := now.Add(-10 * time.Minute)
	req := stdRequest("msg_1", strconv.FormatInt(old.Unix(), 10), Sign(key, "msg_1", old, nil), nil)
	if _, err := (&Standard{Secrets: [][]byte{key}, Tolerance: 15 * time.Minute}).VerifyWebhook(req, now); err != nil {
		t.Errorf("15 minute tolerance rejected a 10 minute old request: %v", err)
	}
	if _, err := (&Standard{Secrets: [][]byte{key}}).VerifyWebhook(req, now); err == nil {
		t.Error("default tolerance accepted a 10 minute old request")
	}
}

func FuzzStandardWebhook(f *testing.F) {
	key := mustKey(f, refSecret)
	now := time.Unix(refUnix, 0)
	v := &Standard{Secrets: [][]byte{key}}
	f.Add([]byte(refBody), refID, strconv.Itoa(refUnix), refSignature)
	f.Add([]byte(`{"test": 2432232315}`), refID, "1614265330", "v1,x v1a,y v2")
	f.Add([]byte{}, "", "-1", ",,, v1,")
	f.Fuzz(func(t *testing.T, body []byte, id, ts, sig string) {
		ev, err := v.VerifyWebhook(stdRequest(id, ts, sig, body), now)
		if err != nil && !errors.Is(err, connectors.ErrUnauthenticated) {
			t.Fatalf("error %v does not wrap ErrUnauthenticated", err)
		}
		if err == nil && !bytes.Equal(ev.Body, body) {
			t.Fatal("verified event does not carry the body as received")
		}
		// The reference signature is for refBody only.
		_, err = v.VerifyWebhook(stdRequest(refID, strconv.Itoa(refUnix), refSignature, body), now)
		if err == nil && string(body) != refBody {
			t.Fatalf("a body other than the signed one verified")
		}
	})
}
