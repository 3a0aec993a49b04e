package alert_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/switchboard-health/switchboard/hub/alert"
	"github.com/switchboard-health/switchboard/hub/route"
)

// An admin's endpoint receiving an alert, verifying it by hand the way
// Standard Webhooks describes (any of its libraries does the same): HMAC-
// SHA256, keyed with the bytes of the base64 after "whsec_", over
// "{webhook-id}.{webhook-timestamp}.{body}".
func ExampleWorker() {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" // in SWITCHBOARD_ALERT_SECRET

	ops := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
		mac := hmac.New(sha256.New, key)
		fmt.Fprintf(mac, "%s.%s.%s", r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp"), body)
		want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
		fmt.Println("signature verified:", r.Header.Get("webhook-signature") == want)
		fmt.Println(string(body))
	}))
	defer ops.Close()

	// The routing file's block:
	//
	//	alerts:
	//	  url: https://ops.example.com/hooks/switchboard
	//	  secret_env: SWITCHBOARD_ALERT_SECRET
	//	  failures: {threshold: 10, window: 15m}
	//	  breaker_open: true
	cfg := route.Alerts{URL: ops.URL, SecretEnv: "SWITCHBOARD_ALERT_SECRET",
		Failures: &route.FailureAlert{Threshold: 10, Window: 15 * time.Minute}, BreakerOpen: true}
	env := func(string) (string, bool) { return secret, true }
	w, err := alert.NewWorker(cfg, env, nil)
	if err != nil {
		fmt.Println(err)
		return
	}

	a := alert.Alert{Type: alert.TypeFailures, Destination: "ehr", Failures: 12, Window: "15m", Threshold: 10,
		At: time.Date(2026, 11, 23, 2, 0, 0, 0, time.UTC)}
	job := &river.Job[alert.Args]{JobRow: &rivertype.JobRow{ID: 1, Attempt: 1}, Args: alert.Args{Alert: a, Key: "example"}}
	if err := w.Work(context.Background(), job); err != nil {
		fmt.Println(err)
	}
	// Output:
	// signature verified: true
	// {"type":"destination.failures","timestamp":"2026-11-23T02:00:00Z","data":{"destination":"ehr","failures":12,"window":"15m","threshold":10}}
}
