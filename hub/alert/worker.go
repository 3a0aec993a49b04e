package alert

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"github.com/switchboard-health/switchboard/connectors/webhook"
	"github.com/switchboard-health/switchboard/hub/route"
)

// The alert job.
const (
	// Kind is the River job kind of an alert.
	Kind = "switchboard.alert"
	// Queue is the River queue alerts are worked from; the server gives
	// it a worker or two (an alert is one small POST).
	Queue = "alerts"
	// MaxAttempts bounds River's retries of one alert: with its backoff
	// (attempt⁴ seconds) the last try comes about four hours after the
	// first, after which the alert is stale anyway.
	MaxAttempts = 10
	// SendTimeout bounds one POST to the alert URL.
	SendTimeout = 10 * time.Second
)

// Args is the alert job: the alert and its de-duplication key.
type Args struct {
	Alert Alert `json:"alert"`
	// Key names the alert (type, destination and the start of its period,
	// see Notifier): River's ByArgs uniqueness looks at Key alone, so one
	// alert is sent per period however many failures or processes report
	// it, and webhook-id is derived from it (MessageID).
	Key string `json:"key" river:"unique"`
}

// Kind implements river.JobArgs.
func (Args) Kind() string { return Kind }

// InsertOpts implements river.JobArgsWithInsertOpts: the alerts queue and
// MaxAttempts, for inserts that give no options of their own.
func (Args) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: Queue, MaxAttempts: MaxAttempts}
}

// Worker sends alerts: one signed POST per try; a 2xx answer completes the
// job and anything else is an error River retries with backoff, with the
// same webhook-id.
type Worker struct {
	river.WorkerDefaults[Args]
	// URL receives the alerts (route.Alerts.URL).
	URL string
	// Secret is the Standard Webhooks secret, "whsec_<base64>".
	Secret string
	// HTTP sends the request; nil means a client with SendTimeout that
	// does not follow redirects (a redirect is a failed try).
	HTTP *http.Client
	// Logger receives one line per alert sent; nil discards.
	Logger *slog.Logger
}

// NewWorker builds the Worker for a routing file's alerts block, reading
// the secret from the environment variable it names (env is os.LookupEnv
// in production). It fails at start-up, naming the variable and never its
// value, when the secret is missing or malformed.
func NewWorker(cfg route.Alerts, env func(string) (string, bool), logger *slog.Logger) (*Worker, error) {
	secret, _ := env(cfg.SecretEnv)
	if secret == "" {
		return nil, fmt.Errorf("alerts: environment variable %s is empty", cfg.SecretEnv)
	}
	if _, err := ParseSecret(secret); err != nil {
		return nil, fmt.Errorf("alerts: environment variable %s: %w", cfg.SecretEnv, err)
	}
	return &Worker{URL: cfg.URL, Secret: secret, Logger: logger}, nil
}

// Timeout implements river.Worker: the POST's own timeout and a margin.
func (w *Worker) Timeout(*river.Job[Args]) time.Duration { return SendTimeout + 5*time.Second }

// Work sends the alert once.
func (w *Worker) Work(ctx context.Context, job *river.Job[Args]) error {
	a := job.Args.Alert
	key, err := ParseSecret(w.Secret)
	if err != nil {
		return err
	}
	body, err := a.Payload()
	if err != nil {
		return err
	}
	id := MessageID(job.Args.Key)
	if job.Args.Key == "" {
		// Inserted without a key (by hand): the job id is stable across retries.
		id = MessageID("job/" + strconv.FormatInt(job.ID, 10))
	}
	ctx, cancel := context.WithTimeout(ctx, SendTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return errors.New("alert: could not build the request to the alert URL")
	}
	SignRequest(req.Header, key, id, time.Now(), body)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Switchboard-Alerts")

	client := w.HTTP
	if client == nil {
		client = &http.Client{
			Timeout:       SendTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	resp, err := client.Do(req)
	if err != nil {
		// *url.Error quotes the URL, and alert URLs often carry a token.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("alert: send %s for destination %q: %w", a.Type, a.Destination, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // let the connection be reused
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("alert: send %s for destination %q: the alert URL answered %d", a.Type, a.Destination, resp.StatusCode)
	}
	w.logger().Info("alert sent", "alert_type", a.Type, "destination", a.Destination, "webhook_id", id, "attempt", job.Attempt)
	return nil
}

func (w *Worker) logger() *slog.Logger {
	if w.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return w.Logger
}

// The Standard Webhooks headers (connectors/webhook holds the verifier).
const (
	HeaderID        = webhook.HeaderID
	HeaderTimestamp = webhook.HeaderTimestamp
	HeaderSignature = webhook.HeaderSignature
)

// secretPrefix marks a serialized Standard Webhooks secret.
const secretPrefix = "whsec_"

// MinSecretBytes is the shortest key accepted: Standard Webhooks asks for
// secrets of 24 to 64 random bytes.
const MinSecretBytes = 24

// ParseSecret decodes a serialized Standard Webhooks secret,
// "whsec_<base64>", into the HMAC key: the bytes the base64 stands for,
// not the text. Errors never quote the secret.
func ParseSecret(s string) ([]byte, error) {
	rest, ok := strings.CutPrefix(s, secretPrefix)
	if !ok {
		return nil, errors.New("the secret must start with whsec_")
	}
	key, err := base64.StdEncoding.DecodeString(rest)
	if err != nil {
		return nil, errors.New("the secret is not base64 after whsec_")
	}
	if len(key) < MinSecretBytes {
		return nil, fmt.Errorf("the secret is %d bytes, at least %d are needed", len(key), MinSecretBytes)
	}
	return key, nil
}

// SignRequest sets the Standard Webhooks headers on h for body sent as
// message id at ts: webhook-id, webhook-timestamp (Unix seconds) and
// webhook-signature, "v1," and the base64 HMAC-SHA256 with key of
// "{id}.{timestamp}.{body}".
func SignRequest(h http.Header, key []byte, id string, ts time.Time, body []byte) {
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(HeaderSignature, webhook.Sign(key, id, ts, body))
}
