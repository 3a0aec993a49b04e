package hubspot

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-health/switchboard/connectors"
	"github.com/switchboard-health/switchboard/connectors/webhook"
)

// Headers of HubSpot's v3 request signature.
const (
	SignatureHeader = "X-HubSpot-Signature-v3"
	TimestampHeader = "X-HubSpot-Request-Timestamp"
)

// DefaultWebhookTolerance is HubSpot's documented limit: "Reject the
// request if the timestamp is older than 5 minutes."
const DefaultWebhookTolerance = 5 * time.Minute

const webhookScheme = "hubspot"

// WebhookVerifier verifies HubSpot's v3 request signature, as documented
// in "Validating requests" ("Validate the v3 request signature",
// https://developers.hubspot.com/docs/apps/developer-platform/build-apps/authentication/request-validation):
//
//   - reject the request if X-HubSpot-Request-Timestamp (milliseconds) is
//     older than 5 minutes;
//   - in the request URI, decode %3A : %2F / %3F ? %40 @ %21 ! %24 $ %27 '
//     %28 ( %29 ) %2A * %2C , %3B ; (and nothing else);
//   - HMAC-SHA256, keyed with the app's client secret, of the UTF-8 string
//     requestMethod + requestUri + requestBody + timestamp;
//   - base64 it and compare with X-HubSpot-Signature-v3.
//
// The URI is WebhookRequest.URL, the full URL HubSpot called (scheme, host,
// path and query, e.g. https://hub.example.com/webhooks/crm?x=1): behind a
// proxy the hub must pass the public URL, not the one it listens on. A
// request verifies if the signature matches any configured client secret,
// so the app's secret can be rotated without downtime.
//
// Beyond HubSpot's rule, a timestamp more than the tolerance in the future
// is rejected too, since it would stay replayable for longer than the
// tolerance.
type WebhookVerifier struct {
	secrets   [][]byte
	tolerance time.Duration
}

// NewWebhookVerifier returns a verifier for the app's client secrets,
// keyed as their UTF-8 bytes as HubSpot's client libraries do. tolerance 0
// means DefaultWebhookTolerance. The error names a secret by index, never
// by value.
func NewWebhookVerifier(clientSecrets []string, tolerance time.Duration) (*WebhookVerifier, error) {
	if len(clientSecrets) == 0 {
		return nil, errors.New("hubspot webhooks: no client secret configured")
	}
	if tolerance < 0 {
		return nil, errors.New("hubspot webhooks: tolerance must not be negative")
	}
	if tolerance == 0 {
		tolerance = DefaultWebhookTolerance
	}
	v := &WebhookVerifier{tolerance: tolerance}
	for i, s := range clientSecrets {
		if strings.TrimSpace(s) == "" {
			return nil, fmt.Errorf("hubspot webhooks: client secret %d is empty", i)
		}
		v.secrets = append(v.secrets, []byte(s))
	}
	return v, nil
}

// VerifyWebhook checks the v3 signature of r and returns the event. Time
// is the signed request timestamp and Type the first event's
// subscriptionType.
//
// HubSpot sends up to 100 events in one JSON array and no id for the
// request, and documents each eventId as "not guaranteed to be unique".
// ID is therefore derived from every event in the batch:
//
//	hubspot:<hex SHA-256 of the sorted "portalId/subscriptionId/eventId/occurredAt" of each event>
//
// which is the same when HubSpot re-sends the batch (attemptNumber, which
// changes, is left out) and which no two different batches share. Should
// HubSpot regroup events when retrying, the new batch gets a new id; the
// body still carries each event's own ids for finer de-duplication
// downstream. A body that is not such an array (a workflow action or CRM
// card request, also signed with v3) gets hubspot:<hex SHA-256 of the
// body> and no Type.
func (v *WebhookVerifier) VerifyWebhook(r connectors.WebhookRequest, now time.Time) (connectors.WebhookEvent, error) {
	if v == nil || len(v.secrets) == 0 {
		return connectors.WebhookEvent{}, webhook.Reject(webhookScheme, "no client secret configured")
	}
	sigHeader := r.Header.Get(SignatureHeader)
	tsHeader := r.Header.Get(TimestampHeader)
	switch {
	case sigHeader == "":
		return connectors.WebhookEvent{}, webhook.Reject(webhookScheme, "missing X-HubSpot-Signature-v3 header")
	case tsHeader == "":
		return connectors.WebhookEvent{}, webhook.Reject(webhookScheme, "missing X-HubSpot-Request-Timestamp header")
	case r.Method == "" || r.URL == "":
		// The hub's fault, not HubSpot's; without them nothing can match.
		return connectors.WebhookEvent{}, webhook.Reject(webhookScheme, "request method or URL not passed to the verifier")
	}
	millis, ok := webhook.ParseDigits(tsHeader)
	if !ok {
		return connectors.WebhookEvent{}, webhook.Reject(webhookScheme, "malformed X-HubSpot-Request-Timestamp header")
	}
	sig, err := base64.StdEncoding.DecodeString(sigHeader)
	if err != nil || len(sig) != sha256.Size {
		return connectors.WebhookEvent{}, webhook.Reject(webhookScheme, "malformed X-HubSpot-Signature-v3 header")
	}
	ts := time.UnixMilli(millis)
	if webhook.OutsideTolerance(ts, now, v.tolerance) {
		return connectors.WebhookEvent{}, webhook.Reject(webhookScheme, "timestamp outside tolerance")
	}
	uri := signedURI(r.URL)
	if !webhook.MatchAny(v.secrets, [][]byte{sig}, func(key []byte) []byte {
		return hubspotMAC(key, r.Method, uri, r.Body, tsHeader)
	}) {
		return connectors.WebhookEvent{}, webhook.Reject(webhookScheme, "no signature matched")
	}
	id, typ := batchIdentity(r.Body)
	return connectors.WebhookEvent{ID: id, Type: typ, Time: ts, Body: r.Body}, nil
}

// batchIdentity derives the event id and type of a verified body.
func batchIdentity(body []byte) (id, typ string) {
	var events []struct {
		EventID          json.Number `json:"eventId"`
		SubscriptionID   json.Number `json:"subscriptionId"`
		PortalID         json.Number `json:"portalId"`
		OccurredAt       json.Number `json:"occurredAt"`
		SubscriptionType string      `json:"subscriptionType"`
	}
	if json.Unmarshal(body, &events) != nil || len(events) == 0 {
		return webhook.DerivedID(webhookScheme, "body", string(body)), ""
	}
	keys := make([]string, 0, len(events))
	for _, e := range events {
		if e.EventID == "" {
			return webhook.DerivedID(webhookScheme, "body", string(body)), ""
		}
		keys = append(keys, string(e.PortalID)+"/"+string(e.SubscriptionID)+"/"+string(e.EventID)+"/"+string(e.OccurredAt))
	}
	sort.Strings(keys)
	return webhook.DerivedID(webhookScheme, keys...), webhook.Label(events[0].SubscriptionType)
}

// uriDecoded are the escapes HubSpot's docs list as decoded before signing.
// Percent-escapes are case-insensitive (RFC 3986 section 2.1), so %2f is
// decoded as %2F is.
var uriDecoded = map[string]byte{
	"3A": ':', "2F": '/', "3F": '?', "40": '@', "21": '!', "24": '$',
	"27": '\'', "28": '(', "29": ')', "2A": '*', "2C": ',', "3B": ';',
}

// signedURI decodes in u exactly the escapes HubSpot decodes; every other
// escape (%20, %3D, %25, ...) stays as received.
func signedURI(u string) string {
	if !strings.Contains(u, "%") {
		return u
	}
	var b strings.Builder
	b.Grow(len(u))
	for i := 0; i < len(u); i++ {
		if u[i] == '%' && i+2 < len(u) {
			if c, ok := uriDecoded[strings.ToUpper(u[i+1:i+3])]; ok {
				b.WriteByte(c)
				i += 2
				continue
			}
		}
		b.WriteByte(u[i])
	}
	return b.String()
}

func hubspotMAC(key []byte, method, uri string, body []byte, timestamp string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(method))
	m.Write([]byte(uri))
	m.Write(body)
	m.Write([]byte(timestamp))
	return m.Sum(nil)
}

// SignWebhook returns the X-HubSpot-Signature-v3 value HubSpot would send
// for a request to uri at ts, whose X-HubSpot-Request-Timestamp is
// strconv.FormatInt(ts.UnixMilli(), 10). It is for tests and for the
// sandboxes that play HubSpot; nothing in the hub signs HubSpot requests.
func SignWebhook(clientSecret, method, uri string, body []byte, ts time.Time) string {
	mac := hubspotMAC([]byte(clientSecret), method, signedURI(uri), body, strconv.FormatInt(ts.UnixMilli(), 10))
	return base64.StdEncoding.EncodeToString(mac)
}
