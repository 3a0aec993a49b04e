package calcom

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/switchboard-health/switchboard/connectors"
	"github.com/switchboard-health/switchboard/connectors/webhook"
)

// SignatureHeader is the header Cal.com signs webhooks in.
const SignatureHeader = "X-Cal-Signature-256"

const webhookScheme = "calcom"

// WebhookVerifier verifies Cal.com webhooks
// (https://cal.com/docs/core-features/webhooks, "Verifying the
// authenticity of the received payload"): X-Cal-Signature-256 is the hex
// HMAC-SHA256 of the raw body keyed with the webhook's secret as UTF-8
// bytes (Cal.com's sendPayload: createHmac("sha256", secretKey)
// .update(body).digest("hex")). A request verifies if the signature
// matches any configured secret, so a secret can be rotated without
// downtime.
//
// Cal.com signs no timestamp, so a captured request can be replayed
// forever and the tolerance has nothing to check. The only defence is the
// de-duplication id, which is why it is derived from signed content and
// not from anything unsigned.
type WebhookVerifier struct {
	secrets [][]byte
}

// NewWebhookVerifier returns a verifier for the webhook secrets set on the
// Cal.com webhook. The error names a secret by index, never by value.
func NewWebhookVerifier(secrets []string) (*WebhookVerifier, error) {
	if len(secrets) == 0 {
		return nil, errors.New("calcom webhooks: no secret configured")
	}
	v := &WebhookVerifier{}
	for i, s := range secrets {
		if strings.TrimSpace(s) == "" {
			return nil, fmt.Errorf("calcom webhooks: secret %d is empty", i)
		}
		v.secrets = append(v.secrets, []byte(s))
	}
	return v, nil
}

// VerifyWebhook checks X-Cal-Signature-256 against every secret and
// returns the event. now is unused: Cal.com signs no timestamp.
//
// Cal.com's default body is {"triggerEvent", "createdAt", "payload"}. Type
// is triggerEvent and Time is createdAt (when Cal.com made the event, not
// a signature time). Cal.com sends no event id, so ID is derived:
//
//	calcom:<hex SHA-256 of triggerEvent, payload.uid, createdAt>
//
// Those three are what make a delivery one event (a booking's uid alone
// is shared by its created, rescheduled and cancelled events) and they
// stay the same when Cal.com re-sends it. The booking uid and a date tied
// to a patient's booking are not to be logged in the clear, and the id is
// logged, so they are hashed. A body without payload.uid (a custom
// payload template, or a trigger such as FORM_SUBMITTED) gets
// calcom:<hex SHA-256 of the whole body>, which still catches an exact
// re-send; Type and Time are then "" and zero if the body lacks them.
func (v *WebhookVerifier) VerifyWebhook(r connectors.WebhookRequest, _ time.Time) (connectors.WebhookEvent, error) {
	if v == nil || len(v.secrets) == 0 {
		return connectors.WebhookEvent{}, webhook.Reject(webhookScheme, "no secret configured")
	}
	header := r.Header.Get(SignatureHeader)
	if header == "" {
		return connectors.WebhookEvent{}, webhook.Reject(webhookScheme, "missing X-Cal-Signature-256 header")
	}
	sig, err := hex.DecodeString(header)
	if err != nil || len(sig) != sha256.Size {
		// Cal.com sends "no-secret-provided" when the webhook has no secret.
		return connectors.WebhookEvent{}, webhook.Reject(webhookScheme, "malformed X-Cal-Signature-256 header (is a secret set on the Cal.com webhook?)")
	}
	if !webhook.MatchAny(v.secrets, [][]byte{sig}, func(key []byte) []byte { return calMAC(key, r.Body) }) {
		return connectors.WebhookEvent{}, webhook.Reject(webhookScheme, "no signature matched")
	}
	return calEvent(r.Body), nil
}

// calEvent reads what it can of a verified body; a body that is not the
// default shape is still a verified event.
func calEvent(body []byte) connectors.WebhookEvent {
	var b struct {
		TriggerEvent string `json:"triggerEvent"`
		CreatedAt    string `json:"createdAt"`
		Payload      struct {
			UID string `json:"uid"`
		} `json:"payload"`
	}
	// An error here leaves the fields it could not fill empty, which the
	// fallbacks below handle.
	_ = json.Unmarshal(body, &b)
	ev := connectors.WebhookEvent{Type: webhook.Label(b.TriggerEvent), Body: body}
	if t, err := time.Parse(time.RFC3339Nano, b.CreatedAt); err == nil {
		ev.Time = t
	}
	if b.Payload.UID != "" && ev.Type != "" && b.CreatedAt != "" {
		ev.ID = webhook.DerivedID(webhookScheme, b.TriggerEvent, b.Payload.UID, b.CreatedAt)
	} else {
		ev.ID = webhook.DerivedID(webhookScheme, "body", string(body))
	}
	return ev
}

func calMAC(key, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(body)
	return m.Sum(nil)
}

// SignWebhook returns the X-Cal-Signature-256 value Cal.com would send for
// body with secret. It is for tests and for the sandboxes that play
// Cal.com; nothing in the hub signs Cal.com webhooks.
func SignWebhook(secret string, body []byte) string {
	return hex.EncodeToString(calMAC([]byte(secret), body))
}
