package alert

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/switchboard-health/switchboard/connectors"
	"github.com/switchboard-health/switchboard/connectors/webhook"
	"github.com/switchboard-health/switchboard/hub/route"
)

const testSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// receiver is an admin's alert endpoint: it verifies each request with the
// hub's Standard Webhooks verifier (itself checked against the spec's
// vector in connectors/webhook) and answers status.
type receiver struct {
	mu       sync.Mutex
	status   int
	events   []connectors.WebhookEvent
	rejected []error
	headers  []http.Header
}

func newReceiver(t *testing.T) (*receiver, string) {
	t.Helper()
	verifier, err := webhook.NewStandard([]string{testSecret}, 0)
	if err != nil {
		t.Fatal(err)
	}
	rc := &receiver{status: http.StatusNoContent}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ev, err := verifier.VerifyWebhook(connectors.WebhookRequest{Method: r.Method, Header: r.Header, Body: body}, time.Now())
		rc.mu.Lock()
		defer rc.mu.Unlock()
		rc.headers = append(rc.headers, r.Header.Clone())
		if err != nil {
			rc.rejected = append(rc.rejected, err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		rc.events = append(rc.events, ev)
		w.WriteHeader(rc.status)
	}))
	t.Cleanup(srv.Close)
	return rc, srv.URL
}

func job(args Args, attempt int) *river.Job[Args] {
	return &river.Job[Args]{JobRow: &rivertype.JobRow{ID: 7, Attempt: attempt, Kind: Kind}, Args: args}
}

func TestWorkerSendsAVerifiableAlert(t *testing.T) {
	rc, url := newReceiver(t)
	w, err := NewWorker(route.Alerts{URL: url, SecretEnv: "S"}, func(string) (string, bool) { return testSecret, true }, nil)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now().UTC().Truncate(time.Second)
	args := Args{Alert: Alert{Type: TypeFailures, Destination: "ehr", Failures: 12, Window: "15m", Threshold: 10, At: at},
		Key: key(TypeFailures, "ehr", 15*time.Minute, at)}

	// The receiver is down: the try fails, for River to retry.
	rc.status = http.StatusServiceUnavailable
	err = w.Work(context.Background(), job(args, 1))
	if err == nil || !strings.Contains(err.Error(), "answered 503") {
		t.Fatalf("a 503 must fail the try: %v", err)
	}
	if strings.Contains(err.Error(), url) {
		t.Fatalf("the error quotes the alert URL: %v", err)
	}
	rc.status = http.StatusOK
	if err := w.Work(context.Background(), job(args, 2)); err != nil {
		t.Fatal(err)
	}

	if len(rc.rejected) > 0 || len(rc.events) != 2 {
		t.Fatalf("receiver: %d verified, rejected %v", len(rc.events), rc.rejected)
	}
	first, retry := rc.events[0], rc.events[1]
	if first.ID != MessageID(args.Key) || retry.ID != first.ID {
		t.Fatalf("webhook-id %q then %q, want %q on every try", first.ID, retry.ID, MessageID(args.Key))
	}
	if retry.Type != TypeFailures {
		t.Fatalf("type %q", retry.Type)
	}
	var body struct {
		Type      string         `json:"type"`
		Timestamp time.Time      `json:"timestamp"`
		Data      map[string]any `json:"data"`
	}
	if err := json.Unmarshal(retry.Body, &body); err != nil {
		t.Fatal(err)
	}
	if !body.Timestamp.Equal(at) || body.Data["destination"] != "ehr" || body.Data["failures"] != 12.0 ||
		body.Data["threshold"] != 10.0 || body.Data["window"] != "15m" {
		t.Fatalf("body %s", retry.Body)
	}
	if ct := rc.headers[1].Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q", ct)
	}
}

func TestWorkerFailures(t *testing.T) {
	args := Args{Alert: Alert{Type: TypeBreakerOpen, Destination: "ehr", BreakerState: "open", At: time.Now()}, Key: "k"}

	// A receiver with another secret refuses the alert: an error, retried.
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, _ := webhook.NewStandard([]string{"whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}, 0)
		body, _ := io.ReadAll(r.Body)
		if _, err := v.VerifyWebhook(connectors.WebhookRequest{Header: r.Header, Body: body}, time.Now()); err != nil {
			w.WriteHeader(http.StatusUnauthorized)
		}
	}))
	defer other.Close()
	w := &Worker{URL: other.URL + "/hook?token=abc", Secret: testSecret}
	if err := w.Work(context.Background(), job(args, 1)); err == nil || !strings.Contains(err.Error(), "answered 401") {
		t.Fatalf("wrong secret: %v", err)
	}

	// A redirect is not followed (the alert would go elsewhere): a failed try.
	redirect := httptest.NewServer(http.RedirectHandler("https://elsewhere.example/", http.StatusFound))
	defer redirect.Close()
	w.URL = redirect.URL
	if err := w.Work(context.Background(), job(args, 1)); err == nil || !strings.Contains(err.Error(), "answered 302") {
		t.Fatalf("redirect: %v", err)
	}

	// No answer: the error names neither the URL nor its token.
	w.URL = "http://127.0.0.1:1/hook?token=abc"
	err := w.Work(context.Background(), job(args, 1))
	if err == nil || strings.Contains(err.Error(), "token=abc") || strings.Contains(err.Error(), "/hook") {
		t.Fatalf("connection refused: %v", err)
	}
}

func TestNewWorkerChecksTheSecret(t *testing.T) {
	cfg := route.Alerts{URL: "https://ops.example.com/h", SecretEnv: "SWITCHBOARD_ALERT_SECRET"}
	for _, c := range []struct{ value, want string }{
		{"", "SWITCHBOARD_ALERT_SECRET is empty"},
		{"plain-text", "SWITCHBOARD_ALERT_SECRET: the secret must start with whsec_"},
	} {
		_, err := NewWorker(cfg, func(string) (string, bool) { return c.value, c.value != "" }, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.value, err, c.want)
		}
	}
}
