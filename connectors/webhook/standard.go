package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-health/switchboard/connectors"
)

// Standard Webhooks headers (spec/standard-webhooks.md, "Webhook headers").
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// DefaultTolerance is how far a signature timestamp may be from now, in
// either direction, when no tolerance is configured: five minutes, as in
// the reference libraries.
const DefaultTolerance = 5 * time.Minute

// secretPrefix marks a serialized Standard Webhooks secret.
const secretPrefix = "whsec_"

// maxIDLen bounds webhook-id. The spec sets no limit; ids in practice
// ("msg_2KWPBgLlAfxdpx2AI54pPJ85f4W") are short, and the id is stored as
// the de-duplication key.
const maxIDLen = 256

const standardScheme = "standard"

// Standard verifies Standard Webhooks (https://www.standardwebhooks.com):
// HMAC-SHA256 over "{webhook-id}.{webhook-timestamp}.{body}", sent base64
// in webhook-signature as a space-separated list of "v1,<base64>" entries
// (entries of other versions, such as the asymmetric v1a, are ignored).
// A request verifies if any v1 entry matches any of Secrets, so both sides
// can rotate secrets without downtime.
//
// The zero Tolerance means DefaultTolerance.
type Standard struct {
	// Secrets are the raw HMAC keys, already decoded. NewStandard fills
	// them from the serialized form; set them directly for raw keys.
	Secrets [][]byte
	// Tolerance is how far the timestamp may be from now, either way.
	Tolerance time.Duration
}

// NewStandard decodes serialized secrets and returns a verifier.
//
// Each secret is base64 (standard alphabet, padded), with or without the
// "whsec_" prefix: the prefix is stripped if present and the rest is always
// decoded, exactly as the reference libraries' NewWebhook does. A secret is
// never taken as raw bytes from a string, since a base64 string would then
// verify nothing and fail silently; raw keys (the reference libraries'
// NewWebhookRaw) go straight into Standard.Secrets. The error names the
// index of a malformed secret, never its value.
func NewStandard(secrets []string, tolerance time.Duration) (*Standard, error) {
	if len(secrets) == 0 {
		return nil, errors.New("standard webhooks: no secret configured")
	}
	if tolerance < 0 {
		return nil, errors.New("standard webhooks: tolerance must not be negative")
	}
	s := &Standard{Tolerance: tolerance}
	for i, raw := range secrets {
		key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(raw, secretPrefix))
		if err != nil {
			// err would only add a byte offset; leaving it out keeps any
			// part of the secret out of the message for good.
			return nil, fmt.Errorf("standard webhooks: secret %d is not base64 after the optional whsec_ prefix", i)
		}
		if len(key) == 0 {
			return nil, fmt.Errorf("standard webhooks: secret %d is empty", i)
		}
		s.Secrets = append(s.Secrets, key)
	}
	return s, nil
}

// VerifyWebhook checks r against every secret and returns the event: ID is
// webhook-id, Time is webhook-timestamp, and Type is the body's top-level
// "type" when the body is a JSON object that has one (the spec's
// recommended payload shape), "" otherwise.
func (s *Standard) VerifyWebhook(r connectors.WebhookRequest, now time.Time) (connectors.WebhookEvent, error) {
	if len(s.Secrets) == 0 {
		return connectors.WebhookEvent{}, Reject(standardScheme, "no secret configured")
	}
	id := r.Header.Get(HeaderID)
	tsHeader := r.Header.Get(HeaderTimestamp)
	sigHeader := r.Header.Get(HeaderSignature)
	switch {
	case id == "":
		return connectors.WebhookEvent{}, Reject(standardScheme, "missing webhook-id header")
	case tsHeader == "":
		return connectors.WebhookEvent{}, Reject(standardScheme, "missing webhook-timestamp header")
	case sigHeader == "":
		return connectors.WebhookEvent{}, Reject(standardScheme, "missing webhook-signature header")
	}
	if !plainID(id) {
		return connectors.WebhookEvent{}, Reject(standardScheme, "malformed webhook-id header")
	}
	unix, ok := ParseDigits(tsHeader)
	if !ok {
		return connectors.WebhookEvent{}, Reject(standardScheme, "malformed webhook-timestamp header")
	}
	ts := time.Unix(unix, 0)
	tolerance := s.Tolerance
	if tolerance == 0 {
		tolerance = DefaultTolerance
	}
	if OutsideTolerance(ts, now, tolerance) {
		return connectors.WebhookEvent{}, Reject(standardScheme, "timestamp outside tolerance")
	}
	sigs := standardSignatures(sigHeader)
	if len(sigs) == 0 {
		return connectors.WebhookEvent{}, Reject(standardScheme, "no v1 signature in webhook-signature header")
	}
	if !MatchAny(s.Secrets, sigs, func(key []byte) []byte { return standardMAC(key, id, unix, r.Body) }) {
		return connectors.WebhookEvent{}, Reject(standardScheme, "no signature matched")
	}
	return connectors.WebhookEvent{ID: id, Type: bodyType(r.Body), Time: ts, Body: r.Body}, nil
}

// Sign returns a webhook-signature entry ("v1,<base64>") for body sent
// with id at ts, signed with the raw key secret. It is what the tests and
// the sandboxes that send Standard Webhooks use; several entries for
// several secrets are joined with a space.
func Sign(secret []byte, id string, ts time.Time, body []byte) string {
	return "v1," + base64.StdEncoding.EncodeToString(standardMAC(secret, id, ts.Unix(), body))
}

// standardMAC signs the timestamp as the decimal integer rather than the
// header text, as the reference libraries do, so "0001614265330" and
// "1614265330" sign alike.
func standardMAC(key []byte, id string, unix int64, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(strconv.FormatInt(unix, 10)))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// standardSignatures returns the decoded v1 entries of a webhook-signature
// header. Entries of other versions, and v1 entries that are not a
// base64 SHA-256 MAC, are skipped: they can never match, and one bad
// entry must not hide a good one next to it.
func standardSignatures(header string) [][]byte {
	var out [][]byte
	for _, entry := range strings.Fields(header) {
		version, sig, ok := strings.Cut(entry, ",")
		if !ok || version != "v1" {
			continue
		}
		mac, err := base64.StdEncoding.DecodeString(sig)
		if err != nil || len(mac) != sha256.Size {
			continue
		}
		out = append(out, mac)
	}
	return out
}

// plainID reports whether id is 1 to 256 visible ASCII characters. The id
// becomes the de-duplication key and is logged, so control characters,
// spaces and non-ASCII are refused before anything else looks at it.
func plainID(id string) bool {
	if len(id) == 0 || len(id) > maxIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x21 || id[i] > 0x7e {
			return false
		}
	}
	return true
}

// bodyType is the best-effort top-level "type" of a JSON body.
func bodyType(body []byte) string {
	var b struct {
		Type string `json:"type"`
	}
	if json.Unmarshal(body, &b) != nil {
		return ""
	}
	return Label(b.Type)
}
