package stripe

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-health/switchboard/connectors"
	"github.com/switchboard-health/switchboard/connectors/webhook"
)

// Vectors computed independently with Python's hmac module:
//
//	hmac.new(secret, b"1700000000." + body, sha256).hexdigest()
const (
	hookSecret     = "whsec_plfPJ6Z3pJgnQVlZtWHjU4bZ2RKgb1Fa"
	hookSecretNext = "whsec_rotatedR0tat3dR0tat3dR0tat3dR0ta"
	hookBody       = `{"id":"evt_1NG8Du2eZvKYlo2CUI79vXWy","object":"event","type":"payment_intent.succeeded"}`
	hookSig        = "9ddacf6fc5ceb6f32160292ecd380b740ac87021ecb703aec59a7a9ac2beed10"
	hookSigNext    = "bef2649153dead36987bdebfb8abc10d44196f0c1473dcf0e9803f03393f6990"
	hookUnix       = 1700000000
)

func hookRequest(sig string, body []byte) connectors.WebhookRequest {
	h := http.Header{}
	if sig != "" {
		h.Set(SignatureHeader, sig)
	}
	return connectors.WebhookRequest{Method: http.MethodPost, URL: "https://hub.example/webhooks/payments", Header: h, Body: body}
}

func TestSignWebhookMatchesIndependentVector(t *testing.T) {
	got := SignWebhook(time.Unix(hookUnix, 0), []byte(hookBody), hookSecret, hookSecretNext)
	if want := "t=1700000000,v1=" + hookSig + ",v1=" + hookSigNext; got != want {
		t.Errorf("SignWebhook = %s\nwant          %s", got, want)
	}
}

func TestVerifyWebhook(t *testing.T) {
	v, err := NewWebhookVerifier([]string{hookSecret, hookSecretNext}, 0)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(hookUnix, 0)
	body := []byte(hookBody)
	tampered := bytes.Replace(body, []byte("evt_1"), []byte("evt_2"), 1)
	at := func(d time.Duration, secrets ...string) string { return SignWebhook(now.Add(d), body, secrets...) }
	forged := strings.Repeat("ab", 32)
	const retired = "whsec_retiredRetiredRetiredRetiredRet"

	tests := []struct {
		name   string
		req    connectors.WebhookRequest
		reason string // "" means it verifies
	}{
		{"independent vector, first secret", hookRequest("t=1700000000,v1="+hookSig, body), ""},
		{"independent vector, second secret", hookRequest("t=1700000000,v1="+hookSigNext, body), ""},
		{"several v1 values, last one good", hookRequest("t=1700000000,v1="+forged+",v1="+hookSigNext, body), ""},
		{"v0 and unknown schemes ignored", hookRequest("t=1700000000,v0="+forged+",v1="+hookSig+",v9=x", body), ""},
		{"order of elements does not matter", hookRequest("v1="+hookSig+",t=1700000000", body), ""},
		{"a v1 that is not hex does not hide a good one", hookRequest("t=1700000000,v1=zz,v1="+hookSig, body), ""},
		{"signed with a retired secret", hookRequest(at(0, retired), body), "no signature matched"},
		{"forged signature", hookRequest("t=1700000000,v1="+forged, body), "no signature matched"},
		{"body tampered by one byte", hookRequest("t=1700000000,v1="+hookSig, tampered), "no signature matched"},
		{"timestamp changed after signing", hookRequest("t=1700000001,v1="+hookSig, body), "no signature matched"},
		{"at the edge of the tolerance", hookRequest(at(-300*time.Second, hookSecret), body), ""},
		{"stale timestamp", hookRequest(at(-301*time.Second, hookSecret), body), "timestamp outside tolerance"},
		{"timestamp too far in the future", hookRequest(at(301*time.Second, hookSecret), body), "timestamp outside tolerance"},
		{"missing header", hookRequest("", body), "missing Stripe-Signature header"},
		{"no timestamp", hookRequest("v1="+hookSig, body), "no timestamp in Stripe-Signature header"},
		{"no v1", hookRequest("t=1700000000,v0="+hookSig, body), "no v1 signature in Stripe-Signature header"},
		{"v1 of the wrong length", hookRequest("t=1700000000,v1="+hookSig[:62], body), "no v1 signature in Stripe-Signature header"},
		{"element without =", hookRequest("t=1700000000,"+hookSig, body), "malformed Stripe-Signature header"},
		{"timestamp not a number", hookRequest("t=now,v1="+hookSig, body), "malformed Stripe-Signature header"},
		{"negative timestamp", hookRequest("t=-1700000000,v1="+hookSig, body), "malformed Stripe-Signature header"},
		{"two timestamps", hookRequest("t=1,t=1700000000,v1="+hookSig, body), "malformed Stripe-Signature header"},
		{"not Stripe's format at all", hookRequest("sha256="+hookSig, body), "no timestamp in Stripe-Signature header"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := v.VerifyWebhook(tt.req, now)
			if tt.reason == "" {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				want := connectors.WebhookEvent{ID: "evt_1NG8Du2eZvKYlo2CUI79vXWy", Type: "payment_intent.succeeded"}
				if ev.ID != want.ID || ev.Type != want.Type || ev.Time.IsZero() || !bytes.Equal(ev.Body, body) {
					t.Errorf("event = %+v", ev)
				}
				return
			}
			assertHookRejected(t, err, tt.reason, tt.req)
		})
	}
}

func assertHookRejected(t *testing.T, err error, reason string, req connectors.WebhookRequest) {
	t.Helper()
	if !errors.Is(err, connectors.ErrUnauthenticated) {
		t.Fatalf("error %v does not wrap ErrUnauthenticated", err)
	}
	var rej *webhook.Rejection
	if !errors.As(err, &rej) || rej.Reason != reason {
		t.Fatalf("error %q, want reason %q", err, reason)
	}
	msg := err.Error()
	if sig := req.Header.Get(SignatureHeader); sig != "" && strings.Contains(msg, sig) {
		t.Errorf("error %q quotes the header", msg)
	}
	if strings.Contains(msg, "evt_") {
		t.Errorf("error %q quotes the body", msg)
	}
}

func TestVerifyWebhookNeedsAnEventID(t *testing.T) {
	v, err := NewWebhookVerifier([]string{hookSecret}, 0)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(hookUnix, 0)
	for _, body := range []string{`{"object":"event"}`, `not json`, `{"id":"evt 1"}`, `{"id":12}`} {
		req := hookRequest(SignWebhook(now, []byte(body), hookSecret), []byte(body))
		_, err := v.VerifyWebhook(req, now)
		assertHookRejected(t, err, "signed body has no event id", req)
	}
}

func TestNewWebhookVerifierErrors(t *testing.T) {
	tests := []struct {
		name      string
		secrets   []string
		tolerance time.Duration
		want      string
	}{
		{"no secrets", nil, 0, "no secret configured"},
		{"blank second secret", []string{hookSecret, " "}, 0, "secret 1 is empty"},
		{"negative tolerance", []string{hookSecret}, -time.Second, "tolerance must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewWebhookVerifier(tt.secrets, tt.tolerance)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "whsec_") {
				t.Errorf("error %q quotes a secret", err)
			}
		})
	}
}

func TestWebhookToleranceIsConfigurable(t *testing.T) {
	now := time.Unix(hookUnix, 0)
	req := hookRequest(SignWebhook(now.Add(-10*time.Minute), []byte(hookBody), hookSecret), []byte(hookBody))
	v, err := NewWebhookVerifier([]string{hookSecret}, 15*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.VerifyWebhook(req, now); err != nil {
		t.Errorf("15 minute tolerance rejected a 10 minute old request: %v", err)
	}
}

// A Stripe destination names one environment variable per endpoint secret;
// while Stripe rolls the secret, both verify.
func ExampleNewWebhookVerifier() {
	env := connectors.Env(func(name string) (string, bool) {
		v, ok := map[string]string{"STRIPE_WEBHOOK_SECRET": hookSecretNext, "STRIPE_WEBHOOK_SECRET_OLD": hookSecret}[name]
		return v, ok
	})
	secrets, err := webhook.Secrets(env, []string{"STRIPE_WEBHOOK_SECRET", "STRIPE_WEBHOOK_SECRET_OLD"})
	if err != nil {
		panic(err)
	}
	v, err := NewWebhookVerifier(secrets, 0)
	if err != nil {
		panic(err)
	}
	now := time.Unix(hookUnix, 0)
	req := hookRequest(SignWebhook(now, []byte(hookBody), hookSecret), []byte(hookBody))
	ev, err := v.VerifyWebhook(req, now.Add(time.Minute))
	fmt.Println(ev.ID, ev.Type, err)
	// Output: evt_1NG8Du2eZvKYlo2CUI79vXWy payment_intent.succeeded <nil>
}

func FuzzStripeWebhook(f *testing.F) {
	v, err := NewWebhookVerifier([]string{hookSecret, hookSecretNext}, 0)
	if err != nil {
		f.Fatal(err)
	}
	now := time.Unix(hookUnix, 0)
	good := "t=1700000000,v1=" + hookSig
	f.Add([]byte(hookBody), good)
	f.Add([]byte(`{"id":"evt_2"}`), "t=1700000000,v1=00,v0=,=,t=")
	f.Add([]byte{}, ",,,")
	f.Fuzz(func(t *testing.T, body []byte, header string) {
		ev, err := v.VerifyWebhook(hookRequest(header, body), now)
		if err != nil && !errors.Is(err, connectors.ErrUnauthenticated) {
			t.Fatalf("error %v does not wrap ErrUnauthenticated", err)
		}
		if err == nil && !bytes.Equal(ev.Body, body) {
			t.Fatal("verified event does not carry the body as received")
		}
		// good is a signature of hookBody only.
		if _, err := v.VerifyWebhook(hookRequest(good, body), now); err == nil && string(body) != hookBody {
			t.Fatal("a body other than the signed one verified")
		}
	})
}
