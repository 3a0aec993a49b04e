package calcom

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

// Vectors computed independently with Python:
//
//	hmac.new(b"calcom-test-secret", body, sha256).hexdigest()
//	"calcom:" + sha256(b"".join(struct.pack(">Q", len(p)) + p for p in
//	    (b"BOOKING_CREATED", b"bFJeNb2uX8ANpT3JL5EfXw", b"2026-01-15T10:00:00.000Z"))).hexdigest()
//
// The body has the shape of Cal.com's default payload (sendPayload.ts:
// {triggerEvent, createdAt, payload}).
const (
	calSecret = "calcom-test-secret"
	calBody   = `{"triggerEvent":"BOOKING_CREATED","createdAt":"2026-01-15T10:00:00.000Z","payload":{"uid":"bFJeNb2uX8ANpT3JL5EfXw","title":"Consultation"}}`
	calSig    = "c7c863ab70bcf5226dfb6ed0b9b5065295340e76fb6f480bbccf278f942660b5"
	calID     = "calcom:f3238f7dcc314f84304ca63bc37ceb6c310a58a20dc33562d5e2fe5d2adfe6f5"
)

func calRequest(sig string, body []byte) connectors.WebhookRequest {
	h := http.Header{}
	if sig != "" {
		h.Set(SignatureHeader, sig)
	}
	return connectors.WebhookRequest{Method: http.MethodPost, URL: "https://hub.example/webhooks/scheduling", Header: h, Body: body}
}

func TestSignWebhookMatchesIndependentVector(t *testing.T) {
	if got := SignWebhook(calSecret, []byte(calBody)); got != calSig {
		t.Errorf("SignWebhook = %s, want %s", got, calSig)
	}
}

func TestVerifyWebhook(t *testing.T) {
	const next = "calcom-next-secret"
	v, err := NewWebhookVerifier([]string{calSecret, next})
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(calBody)
	tampered := bytes.Replace(body, []byte("Consultation"), []byte("Consultatiom"), 1)

	tests := []struct {
		name   string
		req    connectors.WebhookRequest
		reason string // "" means it verifies
	}{
		{"independent vector, first secret", calRequest(calSig, body), ""},
		{"second secret", calRequest(SignWebhook(next, body), body), ""},
		{"upper-case hex", calRequest(strings.ToUpper(calSig), body), ""},
		{"retired secret", calRequest(SignWebhook("calcom-old-secret", body), body), "no signature matched"},
		{"forged signature", calRequest(strings.Repeat("0f", 32), body), "no signature matched"},
		{"body tampered by one byte", calRequest(calSig, tampered), "no signature matched"},
		{"missing header", calRequest("", body), "missing X-Cal-Signature-256 header"},
		{"webhook without a secret", calRequest("no-secret-provided", body),
			"malformed X-Cal-Signature-256 header (is a secret set on the Cal.com webhook?)"},
		{"prefixed signature", calRequest("sha256="+calSig, body),
			"malformed X-Cal-Signature-256 header (is a secret set on the Cal.com webhook?)"},
		{"truncated signature", calRequest(calSig[:60], body),
			"malformed X-Cal-Signature-256 header (is a secret set on the Cal.com webhook?)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := v.VerifyWebhook(tt.req, time.Time{})
			if tt.reason == "" {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				created := time.Date(2026, 1, 15, 10, 0, 0, 0, time.UTC)
				if ev.ID != calID || ev.Type != "BOOKING_CREATED" || !ev.Time.Equal(created) || !bytes.Equal(ev.Body, body) {
					t.Errorf("event = %+v", ev)
				}
				return
			}
			assertCalRejected(t, err, tt.reason, tt.req)
		})
	}
}

func assertCalRejected(t *testing.T, err error, reason string, req connectors.WebhookRequest) {
	t.Helper()
	if !errors.Is(err, connectors.ErrUnauthenticated) {
		t.Fatalf("error %v does not wrap ErrUnauthenticated", err)
	}
	var rej *webhook.Rejection
	if !errors.As(err, &rej) || rej.Reason != reason {
		t.Fatalf("error %q, want reason %q", err, reason)
	}
	msg := err.Error()
	if sig := req.Header.Get(SignatureHeader); len(sig) > 3 && strings.Contains(msg, sig) {
		t.Errorf("error %q quotes the header", msg)
	}
	if strings.Contains(msg, "Consultation") || strings.Contains(msg, "bFJeNb2u") {
		t.Errorf("error %q quotes the body", msg)
	}
}

// The derived id is what de-duplicates Cal.com's re-sends, so it must be
// stable for one event, different for different events, and hold nothing
// of the body in the clear.
func TestWebhookEventID(t *testing.T) {
	v, err := NewWebhookVerifier([]string{calSecret})
	if err != nil {
		t.Fatal(err)
	}
	verify := func(body string) connectors.WebhookEvent {
		t.Helper()
		ev, err := v.VerifyWebhook(calRequest(SignWebhook(calSecret, []byte(body)), []byte(body)), time.Time{})
		if err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		if strings.Contains(ev.ID, "uid-1") || !strings.HasPrefix(ev.ID, "calcom:") || len(ev.ID) != len("calcom:")+64 {
			t.Errorf("ID %q is not a calcom: hash", ev.ID)
		}
		return ev
	}
	created := verify(`{"triggerEvent":"BOOKING_CREATED","createdAt":"2026-01-15T10:00:00Z","payload":{"uid":"uid-1","title":"A"}}`)
	// The same event re-sent with its payload re-serialized differently.
	resent := verify(`{"createdAt":"2026-01-15T10:00:00Z","triggerEvent":"BOOKING_CREATED","payload":{"title":"A","uid":"uid-1"}}`)
	cancelled := verify(`{"triggerEvent":"BOOKING_CANCELLED","createdAt":"2026-01-15T10:05:00Z","payload":{"uid":"uid-1"}}`)
	noUID := verify(`{"triggerEvent":"FORM_SUBMITTED","createdAt":"2026-01-15T10:00:00Z","payload":{"responses":{}}}`)
	template := verify(`{"booking":"uid-1"}`)

	if created.ID != resent.ID {
		t.Error("a re-sent event got a new id")
	}
	if created.ID == cancelled.ID {
		t.Error("created and cancelled events of one booking share an id")
	}
	if noUID.ID == created.ID || noUID.Type != "FORM_SUBMITTED" {
		t.Errorf("event without a uid: %+v", noUID)
	}
	if template.Type != "" || !template.Time.IsZero() {
		t.Errorf("custom template body: Type %q, Time %v; want none", template.Type, template.Time)
	}
}

func TestNewWebhookVerifierErrors(t *testing.T) {
	for name, secrets := range map[string][]string{
		"no secret configured": nil,
		"secret 1 is empty":    {calSecret, ""},
	} {
		_, err := NewWebhookVerifier(secrets)
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%q: error %v", secrets, err)
		}
		if err != nil && strings.Contains(err.Error(), calSecret) {
			t.Errorf("error %q quotes a secret", err)
		}
	}
}

// A Cal.com destination names one environment variable per webhook
// secret, two while the secret is being changed.
func ExampleNewWebhookVerifier() {
	env := connectors.Env(func(name string) (string, bool) {
		v, ok := map[string]string{"CALCOM_WEBHOOK_SECRET": calSecret}[name]
		return v, ok
	})
	secrets, err := webhook.Secrets(env, []string{"CALCOM_WEBHOOK_SECRET"})
	if err != nil {
		panic(err)
	}
	v, err := NewWebhookVerifier(secrets)
	if err != nil {
		panic(err)
	}
	ev, err := v.VerifyWebhook(calRequest(calSig, []byte(calBody)), time.Now())
	fmt.Println(ev.Type, ev.Time.Format(time.RFC3339), err)
	// Output: BOOKING_CREATED 2026-01-15T10:00:00Z <nil>
}

func FuzzCalcomWebhook(f *testing.F) {
	v, err := NewWebhookVerifier([]string{calSecret, "calcom-next-secret"})
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(calBody), calSig)
	f.Add([]byte(`{"triggerEvent":1,"payload":[]}`), "no-secret-provided")
	f.Add([]byte{}, "")
	f.Fuzz(func(t *testing.T, body []byte, header string) {
		ev, err := v.VerifyWebhook(calRequest(header, body), time.Time{})
		if err != nil && !errors.Is(err, connectors.ErrUnauthenticated) {
			t.Fatalf("error %v does not wrap ErrUnauthenticated", err)
		}
		if err == nil && (!bytes.Equal(ev.Body, body) || ev.ID == "") {
			t.Fatalf("verified event %+v lacks the body or an id", ev)
		}
		// calSig is a signature of calBody only.
		if _, err := v.VerifyWebhook(calRequest(calSig, body), time.Time{}); err == nil && string(body) != calBody {
			t.Fatal("a body other than the signed one verified")
		}
	})
}
