package hubspot

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-health/switchboard/connectors"
	"github.com/switchboard-health/switchboard/connectors/webhook"
)

// The v3 vector of HubSpot's own Python client
// (github.com/HubSpot/hubspot-api-python, tests/spec/utils/test_signature.py,
// test_get_signature__v3), re-checked with Python's hmac module.
const (
	libSecret    = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"
	libURL       = "https://www.example.com/webhook_uri"
	libBody      = `{'example_field':'example_value'}`
	libTimestamp = "15000000"
	libSignature = "HPW73RUtKmcYoEDADG0s6MmGFWUzWJKAW07r8RDgcQw="
)

// A batch to an URL with escapes, signed with libSecret. Computed
// independently with Python over the URI decoded by hand from HubSpot's
// table (%2F %3F %3A decoded; %3D and %20 kept):
//
//	s = b"POST" + b"https://hub.example.com/webhooks/crm?next=/app?a%3D1%20b:c" + body + b"1700000000123"
//	base64.b64encode(hmac.new(secret, s, sha256).digest())
//
// and batchID likewise, as webhook.DerivedID's length-prefixed SHA-256 of
// "62515/12345/1/1564113600000" and "62515/12345/2/1564113600001".
const (
	batchURL       = "https://hub.example.com/webhooks/crm?next=%2Fapp%3Fa%3D1%20b%3Ac"
	batchBody      = `[{"eventId":1,"subscriptionId":12345,"portalId":62515,"occurredAt":1564113600000,"subscriptionType":"contact.creation","attemptNumber":0,"objectId":123,"changeSource":"CRM","changeFlag":"NEW","appId":54321},{"eventId":2,"subscriptionId":12345,"portalId":62515,"occurredAt":1564113600001,"subscriptionType":"contact.propertyChange","attemptNumber":0,"objectId":124,"appId":54321}]`
	batchMillis    = 1700000000123
	batchSignature = "NzTUGq7ov2X5y/lnJkBE7nk8ELFKp4dYSGMnqClEbiY="
	batchID        = "hubspot:3f8aa9d093240768bf7a30be5464c1c7d1cdc5f269b45576bbf31034b3ce25ae"
)

func hsRequest(method, url, sig, ts string, body []byte) connectors.WebhookRequest {
	h := http.Header{}
	if sig != "" {
		h.Set(SignatureHeader, sig)
	}
	if ts != "" {
		h.Set(TimestampHeader, ts)
	}
	return connectors.WebhookRequest{Method: method, URL: url, Header: h, Body: body}
}

func TestSignWebhookMatchesIndependentVectors(t *testing.T) {
	if got := SignWebhook(libSecret, "POST", libURL, []byte(libBody), time.UnixMilli(15000000)); got != libSignature {
		t.Errorf("HubSpot client vector: SignWebhook = %s, want %s", got, libSignature)
	}
	if got := SignWebhook(libSecret, "POST", batchURL, []byte(batchBody), time.UnixMilli(batchMillis)); got != batchSignature {
		t.Errorf("escaped URL vector: SignWebhook = %s, want %s", got, batchSignature)
	}
}

func TestVerifyWebhookClientLibraryVector(t *testing.T) {
	v, err := NewWebhookVerifier([]string{libSecret}, 0)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := v.VerifyWebhook(hsRequest("POST", libURL, libSignature, libTimestamp, []byte(libBody)), time.UnixMilli(15000000+1000))
	if err != nil {
		t.Fatalf("rejected: %v", err)
	}
	// Not an array of events: the id falls back to a hash of the body.
	if !strings.HasPrefix(ev.ID, "hubspot:") || ev.Type != "" || !ev.Time.Equal(time.UnixMilli(15000000)) {
		t.Errorf("event = %+v", ev)
	}
}

func TestVerifyWebhook(t *testing.T) {
	const next = "zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz"
	v, err := NewWebhookVerifier([]string{next, libSecret}, 0)
	if err != nil {
		t.Fatal(err)
	}
	now := time.UnixMilli(batchMillis).Add(2 * time.Second)
	body := []byte(batchBody)
	ts := strconv.FormatInt(batchMillis, 10)
	signed := func(secret string, at time.Time) (sig, ts string) {
		return SignWebhook(secret, "POST", batchURL, body, at), strconv.FormatInt(at.UnixMilli(), 10)
	}
	tampered := bytes.Replace(body, []byte(`"objectId":123`), []byte(`"objectId":124`), 1)
	nextSig, _ := signed(next, time.UnixMilli(batchMillis))
	retiredSig, _ := signed("retired-secret-0000", time.UnixMilli(batchMillis))
	staleSig, staleTS := signed(libSecret, now.Add(-5*time.Minute-time.Millisecond))
	edgeSig, edgeTS := signed(libSecret, now.Add(-5*time.Minute))
	futureSig, futureTS := signed(libSecret, now.Add(5*time.Minute+time.Millisecond))
	forged := "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

	tests := []struct {
		name   string
		req    connectors.WebhookRequest
		reason string // "" means it verifies
	}{
		{"independent vector, escaped URL", hsRequest("POST", batchURL, batchSignature, ts, body), ""},
		{"escapes in lower case", hsRequest("POST", "https://hub.example.com/webhooks/crm?next=%2fapp%3fa%3D1%20b%3ac", batchSignature, ts, body), ""},
		{"URL already decoded by a proxy", hsRequest("POST", "https://hub.example.com/webhooks/crm?next=/app?a%3D1%20b:c", batchSignature, ts, body), ""},
		{"the other secret", hsRequest("POST", batchURL, nextSig, ts, body), ""},
		{"retired secret", hsRequest("POST", batchURL, retiredSig, ts, body), "no signature matched"},
		{"forged signature", hsRequest("POST", batchURL, forged, ts, body), "no signature matched"},
		{"body tampered by one byte", hsRequest("POST", batchURL, batchSignature, ts, tampered), "no signature matched"},
		{"other path", hsRequest("POST", "https://hub.example.com/webhooks/crn?next=%2Fapp%3Fa%3D1%20b%3Ac", batchSignature, ts, body), "no signature matched"},
		{"escape HubSpot does not decode, decoded", hsRequest("POST", "https://hub.example.com/webhooks/crm?next=/app?a=1%20b:c", batchSignature, ts, body), "no signature matched"},
		{"other method", hsRequest("PUT", batchURL, batchSignature, ts, body), "no signature matched"},
		{"timestamp changed after signing", hsRequest("POST", batchURL, batchSignature, strconv.FormatInt(batchMillis+1, 10), body), "no signature matched"},
		{"at the edge of the tolerance", hsRequest("POST", batchURL, edgeSig, edgeTS, body), ""},
		{"stale timestamp", hsRequest("POST", batchURL, staleSig, staleTS, body), "timestamp outside tolerance"},
		{"timestamp too far in the future", hsRequest("POST", batchURL, futureSig, futureTS, body), "timestamp outside tolerance"},
		{"timestamp in seconds", hsRequest("POST", batchURL, batchSignature, strconv.FormatInt(batchMillis/1000, 10), body), "timestamp outside tolerance"},
		{"missing signature", hsRequest("POST", batchURL, "", ts, body), "missing X-HubSpot-Signature-v3 header"},
		{"missing timestamp", hsRequest("POST", batchURL, batchSignature, "", body), "missing X-HubSpot-Request-Timestamp header"},
		{"timestamp not a number", hsRequest("POST", batchURL, batchSignature, "1700000000.123", body), "malformed X-HubSpot-Request-Timestamp header"},
		{"signature not base64", hsRequest("POST", batchURL, "not base64!", ts, body), "malformed X-HubSpot-Signature-v3 header"},
		{"v1/v2 hex signature in the v3 header", hsRequest("POST", batchURL, strings.Repeat("ab", 32), ts, body), "malformed X-HubSpot-Signature-v3 header"},
		{"no URL passed", hsRequest("POST", "", batchSignature, ts, body), "request method or URL not passed to the verifier"},
		{"no method passed", hsRequest("", batchURL, batchSignature, ts, body), "request method or URL not passed to the verifier"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := v.VerifyWebhook(tt.req, now)
			if tt.reason == "" {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				if ev.ID != batchID || ev.Type != "contact.creation" || !bytes.Equal(ev.Body, body) {
					t.Errorf("event = %+v", ev)
				}
				return
			}
			assertHSRejected(t, err, tt.reason, tt.req)
		})
	}
}

func assertHSRejected(t *testing.T, err error, reason string, req connectors.WebhookRequest) {
	t.Helper()
	if !errors.Is(err, connectors.ErrUnauthenticated) {
		t.Fatalf("error %v does not wrap ErrUnauthenticated", err)
	}
	var rej *webhook.Rejection
	if !errors.As(err, &rej) || rej.Reason != reason {
		t.Fatalf("error %q, want reason %q", err, reason)
	}
	msg := err.Error()
	for _, v := range []string{req.Header.Get(SignatureHeader), req.Header.Get(TimestampHeader), req.URL} {
		if len(v) > 3 && strings.Contains(msg, v) {
			t.Errorf("error %q quotes the request", msg)
		}
	}
	if strings.Contains(msg, "eventId") {
		t.Errorf("error %q quotes the body", msg)
	}
}

func TestSignedURI(t *testing.T) {
	for in, want := range map[string]string{
		"https://h/p":                               "https://h/p",
		"https://h/a%3Ab%2Fc%3Fd%40e%21f%24g":       "https://h/a:b/c?d@e!f$g",
		"https://h/%27%28%29%2A%2C%3B":              "https://h/'()*,;",
		"https://h/?q=a%20b%3Dc%25d%26e%2B":         "https://h/?q=a%20b%3Dc%25d%26e%2B",
		"https://h/%252F":                           "https://h/%252F",
		"https://h/%2":                              "https://h/%2",
		"https://h/%":                               "https://h/%",
		"https://h/%zz%2f":                          "https://h/%zz/",
		"https://h/caf%C3%A9?email=a%40example.org": "https://h/caf%C3%A9?email=a@example.org",
	} {
		if got := signedURI(in); got != want {
			t.Errorf("signedURI(%q) = %q, want %q", in, got, want)
		}
	}
}

// The batch id is what de-duplicates HubSpot's re-sends: the same for a
// re-sent batch, different for a different one.
func TestWebhookBatchID(t *testing.T) {
	id := func(body string) (string, string) { return batchIdentity([]byte(body)) }
	e1 := `{"eventId":1,"subscriptionId":9,"portalId":7,"occurredAt":100,"subscriptionType":"contact.creation","attemptNumber":0}`
	e2 := `{"eventId":2,"subscriptionId":9,"portalId":7,"occurredAt":101,"subscriptionType":"contact.deletion","attemptNumber":0}`
	e1retry := strings.Replace(e1, `"attemptNumber":0`, `"attemptNumber":3`, 1)
	e1otherPortal := strings.Replace(e1, `"portalId":7`, `"portalId":8`, 1)

	base, typ := id("[" + e1 + "," + e2 + "]")
	if typ != "contact.creation" {
		t.Errorf("Type = %q, want the first event's subscriptionType", typ)
	}
	if again, _ := id("[" + e1retry + "," + e2 + "]"); again != base {
		t.Error("a re-sent batch (attemptNumber changed) got a new id")
	}
	if reordered, _ := id("[" + e2 + "," + e1 + "]"); reordered != base {
		t.Error("the same events in another order got a new id")
	}
	if single, _ := id("[" + e1 + "]"); single == base {
		t.Error("a batch of one event shares the id of a batch of two")
	}
	if other, _ := id("[" + e1otherPortal + "," + e2 + "]"); other == base {
		t.Error("the same eventId in another portal shares the id")
	}
	for _, body := range []string{`[]`, `{"callbackId":"ap-1"}`, `[{"subscriptionType":"x"}]`, `[{"eventId":"not a number"}]`} {
		got, typ := id(body)
		if got != webhook.DerivedID("hubspot", "body", body) || typ != "" {
			t.Errorf("%s: id %q type %q, want the body hash and no type", body, got, typ)
		}
	}
}

func TestNewWebhookVerifierErrors(t *testing.T) {
	tests := []struct {
		name      string
		secrets   []string
		tolerance time.Duration
		want      string
	}{
		{"no secrets", nil, 0, "no client secret configured"},
		{"blank second secret", []string{libSecret, ""}, 0, "client secret 1 is empty"},
		{"negative tolerance", []string{libSecret}, -time.Second, "tolerance must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewWebhookVerifier(tt.secrets, tt.tolerance)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
			if strings.Contains(err.Error(), libSecret) {
				t.Errorf("error %q quotes a secret", err)
			}
		})
	}
}

// A HubSpot destination names one environment variable per client secret
// and is given the public URL HubSpot calls.
func ExampleNewWebhookVerifier() {
	env := connectors.Env(func(name string) (string, bool) {
		v, ok := map[string]string{"HUBSPOT_CLIENT_SECRET": libSecret}[name]
		return v, ok
	})
	secrets, err := webhook.Secrets(env, []string{"HUBSPOT_CLIENT_SECRET"})
	if err != nil {
		panic(err)
	}
	v, err := NewWebhookVerifier(secrets, 0)
	if err != nil {
		panic(err)
	}
	req := hsRequest("POST", batchURL, batchSignature, strconv.FormatInt(batchMillis, 10), []byte(batchBody))
	ev, err := v.VerifyWebhook(req, time.UnixMilli(batchMillis).Add(time.Second))
	fmt.Println(ev.Type, ev.ID == batchID, err)
	// Output: contact.creation true <nil>
}

func FuzzHubspotWebhook(f *testing.F) {
	v, err := NewWebhookVerifier([]string{libSecret}, 0)
	if err != nil {
		f.Fatal(err)
	}
	now := time.UnixMilli(batchMillis)
	ts := strconv.FormatInt(batchMillis, 10)
	f.Add([]byte(batchBody), batchURL, batchSignature, ts)
	f.Add([]byte(`[{"eventId":1e999}]`), "https://h/%", "====", "-1")
	f.Add([]byte{}, "", "", "")
	f.Fuzz(func(t *testing.T, body []byte, url, sig, stamp string) {
		ev, err := v.VerifyWebhook(hsRequest("POST", url, sig, stamp, body), now)
		if err != nil && !errors.Is(err, connectors.ErrUnauthenticated) {
			t.Fatalf("error %v does not wrap ErrUnauthenticated", err)
		}
		if err == nil && (!bytes.Equal(ev.Body, body) || ev.ID == "") {
			t.Fatalf("verified event %+v lacks the body or an id", ev)
		}
		// batchSignature is a signature of batchBody only.
		if _, err := v.VerifyWebhook(hsRequest("POST", batchURL, batchSignature, ts, body), now); err == nil && string(body) != batchBody {
			t.Fatal("a body other than the signed one verified")
		}
	})
}
