package connectortest

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/switchboard-health/switchboard/connectors"
	"github.com/switchboard-health/switchboard/connectors/outbound"
)

// patient is the fakes' sample; its name and email are the canaries.
const patient = `{"resourceType":"Patient","name":[{"family":"Quagmire","given":["Zebulon"]}],"telecom":[{"system":"email","value":"zeb@example.org"}]}`

var canaries = []string{"Quagmire", "zeb@example.org"}

// defect is one way a fake connector breaks the contract.
type defect string

const (
	sound           defect = ""
	noKey           defect = "sends no idempotency key"
	keyPerAttempt   defect = "sends a new key on every attempt"
	all4xxRetryable defect = "retries a 4xx"
	all5xxPermanent defect = "gives up on a 5xx"
	dropsRetryAfter defect = "drops Retry-After"
	timeoutIsFinal  defect = "gives up on a timeout"
	bareErrors      defect = "returns unclassified errors"
	logsResource    defect = "logs the resource"
	echoesVendor    defect = "puts the vendor's message in its error"
	nothingSent     defect = "reports success without a call"
	keyInBody       defect = "sends the key in the vendor's own field"
)

// fake is a connector built like the real ones (outbound.Base, one POST
// per delivery) with one defect.
type fake struct {
	outbound.Base
	url    string
	log    *slog.Logger
	defect defect
}

func newFake(d defect) func(Target) (connectors.Connector, error) {
	return func(tg Target) (connectors.Connector, error) {
		p := tg.Params("kit", "{}", nil)
		var cfg struct {
			BaseURL           string `yaml:"base_url"`
			outbound.Settings `yaml:",inline"`
		}
		if err := p.Decode(&cfg); err != nil {
			return nil, err
		}
		return &fake{Base: outbound.NewBase("fake", p, cfg.Settings), url: cfg.BaseURL, log: tg.Logger, defect: d}, nil
	}
}

func (f *fake) Deliver(ctx context.Context, d connectors.Delivery) (connectors.Result, error) {
	if err := f.Accepts(d, "Patient"); err != nil {
		return connectors.Result{}, err
	}
	if f.defect == logsResource {
		f.log.Debug("delivering", "resource", string(d.Resource))
	}
	if f.defect == nothingSent {
		return connectors.Result{Status: 200}, nil
	}
	req := outbound.Request{Method: http.MethodPost, URL: f.url + "/records", PathTemplate: "/records",
		Body: d.Resource, IdempotencyKey: d.IdempotencyKey}
	switch f.defect {
	case noKey:
		req.IdempotencyKey = ""
	case keyPerAttempt:
		req.IdempotencyKey += ":" + strconv.Itoa(d.Attempt)
	case keyInBody:
		// A vendor with a request_id field of its own instead of the header.
		req.IdempotencyKey = ""
		req.Body, _ = json.Marshal(map[string]any{"request_id": d.IdempotencyKey, "record": json.RawMessage(d.Resource)})
	}
	resp, err := f.Client.Do(ctx, req)
	var ce *connectors.Error
	if !errors.As(err, &ce) {
		if err != nil {
			return connectors.Result{}, err
		}
		return connectors.Result{Status: resp.Status, VendorID: "kit-1"}, nil
	}
	switch f.defect {
	case all4xxRetryable:
		if ce.Status >= 400 && ce.Status < 500 {
			ce.Class = connectors.Retryable
		}
	case all5xxPermanent:
		if ce.Status >= 500 {
			ce.Class = connectors.Permanent
		}
	case dropsRetryAfter:
		ce.RetryAfter = 0
	case timeoutIsFinal:
		if ce.Code == "timeout" {
			ce.Class = connectors.Permanent
		}
	case bareErrors:
		return connectors.Result{}, fmt.Errorf("fake delivery failed: %s", ce.Code)
	case echoesVendor:
		if resp != nil {
			ce.Err = errors.New(string(resp.Body))
		}
	}
	return connectors.Result{}, ce
}

// fakeOptions are the options of a fake with defect d.
func fakeOptions(d defect) Options {
	return Options{
		New:      newFake(d),
		Samples:  []connectors.Delivery{{ResourceType: "Patient", Interaction: connectors.Create, Resource: []byte(patient)}},
		Canaries: canaries,
	}
}

// A fake webhook scheme: X-Kit-Timestamp (unix seconds) and X-Kit-Signature,
// hex HMAC-SHA256 of "<timestamp>.<body>".
const (
	fakeSecret     = "kit-secret-one"
	fakeSecretNext = "kit-secret-two"
	fakeTolerance  = 5 * time.Minute
)

func fakeSign(secret string, body []byte, at time.Time) connectors.WebhookRequest {
	ts := strconv.FormatInt(at.Unix(), 10)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts + "."))
	m.Write(body)
	h := http.Header{}
	h.Set("X-Kit-Timestamp", ts)
	h.Set("X-Kit-Signature", hex.EncodeToString(m.Sum(nil)))
	return connectors.WebhookRequest{Method: http.MethodPost, URL: "https://hub.example/webhooks/kit", Header: h, Body: body}
}

// webhookDefect is one way a fake verifier breaks the contract.
type webhookDefect string

const (
	soundVerifier   webhookDefect = ""
	bodyUnsigned    webhookDefect = "remembers a signature, not what it signed"
	noTolerance     webhookDefect = "ignores the timestamp"
	firstSecretOnly webhookDefect = "knows only the first secret"
	quotesSecret    webhookDefect = "quotes the secret in its error"
	plainError      webhookDefect = "does not wrap ErrUnauthenticated"
)

type fakeVerifier struct {
	secrets []string
	defect  webhookDefect
	// seen are signature headers verified before (bodyUnsigned's cache).
	seen map[string]bool
}

func (v fakeVerifier) VerifyWebhook(r connectors.WebhookRequest, now time.Time) (connectors.WebhookEvent, error) {
	reject := func(why string) (connectors.WebhookEvent, error) {
		if v.defect == plainError {
			return connectors.WebhookEvent{}, errors.New(why)
		}
		return connectors.WebhookEvent{}, fmt.Errorf("%w: %s", connectors.ErrUnauthenticated, why)
	}
	ts, err := strconv.ParseInt(r.Header.Get("X-Kit-Timestamp"), 10, 64)
	if err != nil {
		return reject("no timestamp")
	}
	at := time.Unix(ts, 0)
	if v.defect != noTolerance && (at.Before(now.Add(-fakeTolerance)) || at.After(now.Add(fakeTolerance))) {
		return reject("timestamp outside tolerance")
	}
	if v.defect == bodyUnsigned && v.seen[r.Header.Get("X-Kit-Signature")] {
		return connectors.WebhookEvent{ID: "kit", Time: at, Body: r.Body}, nil
	}
	sig, _ := hex.DecodeString(r.Header.Get("X-Kit-Signature"))
	secrets := v.secrets
	if v.defect == firstSecretOnly {
		secrets = secrets[:1]
	}
	for _, s := range secrets {
		m := hmac.New(sha256.New, []byte(s))
		m.Write([]byte(r.Header.Get("X-Kit-Timestamp") + "."))
		m.Write(r.Body)
		if hmac.Equal(sig, m.Sum(nil)) {
			v.seen[r.Header.Get("X-Kit-Signature")] = true
			return connectors.WebhookEvent{ID: "kit", Time: at, Body: r.Body}, nil
		}
	}
	if v.defect == quotesSecret {
		return reject("no signature matches secret " + v.secrets[0])
	}
	return reject("no signature matches")
}

// fakeWebhook describes the fake scheme with a verifier of defect d.
func fakeWebhook(d webhookDefect) *Webhook {
	return &Webhook{
		New: func(secrets []string) (connectors.WebhookVerifier, error) {
			return fakeVerifier{secrets: secrets, defect: d, seen: map[string]bool{}}, nil
		},
		Secrets:   [2]string{fakeSecret, fakeSecretNext},
		Sign:      fakeSign,
		Body:      []byte(`{"event":"patient.updated","email":"zeb@example.org"}`),
		Tolerance: fakeTolerance,
		Vectors: []WebhookVector{{
			// hex(HMAC-SHA256("kit-secret-one", "1700000000.{}")), computed
			// with Python's hmac module.
			Name:    "independent",
			Secrets: []string{fakeSecret},
			Request: connectors.WebhookRequest{Method: http.MethodPost, URL: "https://hub.example/webhooks/kit",
				Header: http.Header{"X-Kit-Timestamp": {"1700000000"},
					"X-Kit-Signature": {"fece9a93def9b14c9fd87236574c571ef53607bfca8fdc049f22f1cbe9251b50"}},
				Body: []byte(`{}`)},
			Now:   time.Unix(1700000000, 0),
			Valid: true,
		}},
	}
}
