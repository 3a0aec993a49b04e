package stripe

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-health/switchboard/connectors"
	"github.com/switchboard-health/switchboard/connectors/webhook"
)

// SignatureHeader is the header Stripe signs webhooks in.
const SignatureHeader = "Stripe-Signature"

// DefaultWebhookTolerance is Stripe's own default (stripe-go's
// webhook.DefaultTolerance): 300 seconds.
const DefaultWebhookTolerance = 300 * time.Second

const scheme = "stripe"

// eventID matches Stripe event ids (evt_…, evt_test_… in test mode). The
// id becomes the de-duplication key and is logged, so anything else in
// that field is refused rather than passed on.
var eventID = regexp.MustCompile(`^[A-Za-z0-9_]{1,255}$`)

// WebhookVerifier verifies Stripe webhooks
// (https://docs.stripe.com/webhooks#verify-manually):
//
//	Stripe-Signature: t=<unix seconds>,v1=<hex>,v1=<hex>,v0=<hex>
//
// where each v1 is the hex HMAC-SHA256 of "{t}.{body}" keyed with an
// endpoint secret. While Stripe rolls a secret it sends one v1 per live
// secret; the request verifies if any v1 matches any configured secret, so
// the hub's side of a rotation needs no downtime either. v0 (test-mode
// SHA-1) and unknown schemes are ignored, as in Stripe's libraries.
type WebhookVerifier struct {
	secrets   [][]byte
	tolerance time.Duration
}

// NewWebhookVerifier returns a verifier for the endpoint secrets
// ("whsec_…"). Stripe keys the HMAC with the whole secret string as bytes,
// prefix included, without decoding it (stripe-go's ComputeSignature does
// []byte(secret)); so does this. tolerance 0 means
// DefaultWebhookTolerance. The error names a secret by index, never by
// value.
func NewWebhookVerifier(secrets []string, tolerance time.Duration) (*WebhookVerifier, error) {
	if len(secrets) == 0 {
		return nil, errors.New("stripe webhooks: no secret configured")
	}
	if tolerance < 0 {
		return nil, errors.New("stripe webhooks: tolerance must not be negative")
	}
	if tolerance == 0 {
		tolerance = DefaultWebhookTolerance
	}
	v := &WebhookVerifier{tolerance: tolerance}
	for i, s := range secrets {
		if strings.TrimSpace(s) == "" {
			return nil, fmt.Errorf("stripe webhooks: secret %d is empty", i)
		}
		v.secrets = append(v.secrets, []byte(s))
	}
	return v, nil
}

// VerifyWebhook checks the Stripe-Signature header of r and returns the
// event: ID is the body's "id" (evt_…), Type its "type", Time the signed t.
// The timestamp must be within the tolerance of now in either direction;
// Stripe's libraries check only age, but a request stamped ahead of now
// would stay replayable for longer than the tolerance.
func (v *WebhookVerifier) VerifyWebhook(r connectors.WebhookRequest, now time.Time) (connectors.WebhookEvent, error) {
	if v == nil || len(v.secrets) == 0 {
		return connectors.WebhookEvent{}, webhook.Reject(scheme, "no secret configured")
	}
	header := r.Header.Get(SignatureHeader)
	if header == "" {
		return connectors.WebhookEvent{}, webhook.Reject(scheme, "missing Stripe-Signature header")
	}
	t, sigs, reason := parseSignature(header)
	if reason != "" {
		return connectors.WebhookEvent{}, webhook.Reject(scheme, reason)
	}
	ts := time.Unix(t, 0)
	if webhook.OutsideTolerance(ts, now, v.tolerance) {
		return connectors.WebhookEvent{}, webhook.Reject(scheme, "timestamp outside tolerance")
	}
	if !webhook.MatchAny(v.secrets, sigs, func(key []byte) []byte { return stripeMAC(key, t, r.Body) }) {
		return connectors.WebhookEvent{}, webhook.Reject(scheme, "no signature matched")
	}
	var ev struct {
		ID   string `json:"id"`
		Type string `json:"type"`
	}
	// The body is authentic at this point; a body that is not an event
	// with an id cannot be de-duplicated, so it is refused, not guessed at.
	if json.Unmarshal(r.Body, &ev) != nil || !eventID.MatchString(ev.ID) {
		return connectors.WebhookEvent{}, webhook.Reject(scheme, "signed body has no event id")
	}
	return connectors.WebhookEvent{ID: ev.ID, Type: webhook.Label(ev.Type), Time: ts, Body: r.Body}, nil
}

// parseSignature reads "t=…,v1=…,…" the way stripe-go does: every element
// must be key=value; t is required (once); v1 values that are not a hex
// SHA-256 MAC are skipped, since one bad value must not hide a good one;
// other keys are ignored. reason is "" on success.
func parseSignature(header string) (t int64, sigs [][]byte, reason string) {
	seenT := false
	for _, pair := range strings.Split(header, ",") {
		key, value, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if !ok || key == "" {
			return 0, nil, "malformed Stripe-Signature header"
		}
		switch key {
		case "t":
			n, ok := webhook.ParseDigits(value)
			if !ok || seenT {
				return 0, nil, "malformed Stripe-Signature header"
			}
			t, seenT = n, true
		case "v1":
			mac, err := hex.DecodeString(value)
			if err == nil && len(mac) == sha256.Size {
				sigs = append(sigs, mac)
			}
		}
	}
	switch {
	case !seenT:
		return 0, nil, "no timestamp in Stripe-Signature header"
	case len(sigs) == 0:
		return 0, nil, "no v1 signature in Stripe-Signature header"
	}
	return t, sigs, ""
}

func stripeMAC(key []byte, t int64, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(strconv.FormatInt(t, 10)))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// SignWebhook returns a Stripe-Signature header value for body sent at ts,
// with one v1 per secret, as Stripe sends while it rolls a secret. It is
// for tests and for the sandboxes that play Stripe; nothing in the hub
// signs Stripe webhooks.
func SignWebhook(ts time.Time, body []byte, secrets ...string) string {
	var b strings.Builder
	b.WriteString("t=")
	b.WriteString(strconv.FormatInt(ts.Unix(), 10))
	for _, s := range secrets {
		b.WriteString(",v1=")
		b.WriteString(hex.EncodeToString(stripeMAC([]byte(s), ts.Unix(), body)))
	}
	return b.String()
}
