package connectortest

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/switchboard-health/switchboard/connectors"
)

// Webhook describes a connector's webhook verifier and the vendor's way of
// signing.
type Webhook struct {
	// New builds the verifier from secrets (several while rotating), as
	// the connector does from webhook_secrets_env.
	New func(secrets []string) (connectors.WebhookVerifier, error)
	// Secrets are two valid secrets in the vendor's format: the verifier is
	// built with the first; the second is the secret of a rotation, and
	// unknown to a verifier built with the first alone.
	Secrets [2]string
	// Sign is the vendor's signing: the request it sends with body, signed
	// with secret at time at.
	Sign func(secret string, body []byte, at time.Time) connectors.WebhookRequest
	// Body is a body the vendor sends; with a canary in it, the check also
	// sees that no error quotes it.
	Body []byte
	// Tolerance is how far the signature's timestamp may be from now; zero
	// when the scheme signs no timestamp (nothing to check).
	Tolerance time.Duration
	// Vectors are published or independently computed requests with their
	// verdicts.
	Vectors []WebhookVector
}

// WebhookVector is a request whose verdict is known.
type WebhookVector struct {
	Name string
	// Secrets build the verifier.
	Secrets []string
	Request connectors.WebhookRequest
	// Now is the time of verification.
	Now time.Time
	// Valid says the request verifies.
	Valid bool
}

// kitNow is the time the webhook checks verify at.
var kitNow = time.Date(2026, 1, 15, 10, 0, 0, 0, time.UTC)

// checkWebhook: a signed body verifies and nothing forged does.
func checkWebhook(r reporter, o *Options) {
	r.Helper()
	w := o.Webhook
	if w.New == nil || w.Sign == nil || len(w.Body) == 0 || w.Secrets[0] == "" || w.Secrets[1] == "" {
		r.Errorf("Webhook needs New, Sign, Body and two Secrets")
		return
	}
	verifier := func(secrets ...string) connectors.WebhookVerifier {
		v, err := w.New(secrets)
		if err != nil {
			r.Errorf("New(%d secrets): %v", len(secrets), err)
			return nil
		}
		return v
	}
	one, both := verifier(w.Secrets[0]), verifier(w.Secrets[0], w.Secrets[1])
	if one == nil || both == nil {
		return
	}
	secret := w.Secrets[0]
	signed := w.Sign(secret, w.Body, kitNow)

	accept := func(name string, v connectors.WebhookVerifier, req connectors.WebhookRequest, now time.Time) {
		ev, err := v.VerifyWebhook(req, now)
		if err != nil {
			r.Errorf("%s: refused: %v", name, err)
			return
		}
		if !bytes.Equal(ev.Body, req.Body) {
			r.Errorf("%s: the event's body is not the body signed", name)
		}
	}
	refuse := func(name string, v connectors.WebhookVerifier, req connectors.WebhookRequest, now time.Time) {
		_, err := v.VerifyWebhook(req, now)
		if err == nil {
			r.Errorf("%s: verified", name)
			return
		}
		if !errors.Is(err, connectors.ErrUnauthenticated) {
			r.Errorf("%s: error %q does not wrap connectors.ErrUnauthenticated", name, err)
		}
		for _, s := range append(append([]string{}, w.Secrets[:]...), o.Canaries...) {
			if s != "" && strings.Contains(err.Error(), s) {
				r.Errorf("%s: the error quotes a secret or canary: %s", name, err)
			}
		}
	}

	accept("a body signed with the secret", one, signed, kitNow)
	accept("during a rotation, a body signed with the old secret", both, signed, kitNow)
	accept("during a rotation, a body signed with the new secret", both, w.Sign(w.Secrets[1], w.Body, kitNow), kitNow)

	tampered := clone(signed)
	tampered.Body = tamper(tampered.Body)
	refuse("a tampered body", one, tampered, kitNow)
	refuse("a body signed with an unknown secret", one, w.Sign(w.Secrets[1], w.Body, kitNow), kitNow)
	unsigned := clone(signed)
	unsigned.Header = http.Header{}
	refuse("no signature headers", one, unsigned, kitNow)
	// The headers that change with the secret hold the signature: a
	// character changed in any of them must be caught.
	other := w.Sign(w.Secrets[1], w.Body, kitNow)
	forged := 0
	for k, vs := range signed.Header {
		if len(vs) == 0 || vs[0] == other.Header.Get(k) {
			continue
		}
		req := clone(signed)
		req.Header.Set(k, string(tamper([]byte(vs[0]))))
		refuse(fmt.Sprintf("a forged %s header", k), one, req, kitNow)
		forged++
	}
	if forged == 0 {
		r.Errorf("no header of the signed request depends on the secret: Sign signs nothing")
	}
	if w.Tolerance > 0 {
		refuse("a signature older than the tolerance", one, w.Sign(secret, w.Body, kitNow.Add(-w.Tolerance-time.Minute)), kitNow)
		refuse("a signature from beyond the tolerance ahead", one, w.Sign(secret, w.Body, kitNow.Add(w.Tolerance+time.Minute)), kitNow)
		accept("a signature within the tolerance", one, w.Sign(secret, w.Body, kitNow.Add(-w.Tolerance/2)), kitNow)
	}
	for _, vec := range w.Vectors {
		v := verifier(vec.Secrets...)
		if v == nil {
			continue
		}
		if vec.Valid {
			accept("vector "+vec.Name, v, vec.Request, vec.Now)
		} else {
			refuse("vector "+vec.Name, v, vec.Request, vec.Now)
		}
	}
}

// clone copies a request so a tampering leaves the original alone.
func clone(r connectors.WebhookRequest) connectors.WebhookRequest {
	r.Header = r.Header.Clone()
	r.Body = bytes.Clone(r.Body)
	return r
}

// tamper changes one letter or digit in the middle of b into another of
// the same kind, so the result keeps its shape (JSON, hex, base64).
func tamper(b []byte) []byte {
	out := bytes.Clone(b)
	for off := 0; off < len(out); off++ {
		i := (len(out)/2 + off) % len(out)
		switch c := out[i]; {
		case c >= '0' && c <= '8', c >= 'a' && c <= 'y', c >= 'A' && c <= 'Y':
			out[i] = c + 1
			return out
		case c == '9', c == 'z', c == 'Z':
			out[i] = c - 1
			return out
		}
	}
	return append(out, ' ')
}
