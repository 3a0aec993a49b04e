package webhook_test

import (
	"fmt"
	"net/http"
	"time"

	"github.com/switchboard-health/switchboard/connectors"
	"github.com/switchboard-health/switchboard/connectors/webhook"
)

// A destination that receives Standard Webhooks names one environment
// variable per secret it accepts; during a rotation it names two.
func ExampleStandard() {
	env := connectors.Env(func(name string) (string, bool) {
		v, ok := map[string]string{
			"INTAKE_WEBHOOK_SECRET":     "whsec_c2VjcmV0LW51bWJlci1vbmUtMDEyMzQ1Njc4OQ==",
			"INTAKE_WEBHOOK_SECRET_OLD": "whsec_c2VjcmV0LW51bWJlci10d28tMDEyMzQ1Njc4OQ==",
		}[name]
		return v, ok
	})
	secrets, err := webhook.Secrets(env, []string{"INTAKE_WEBHOOK_SECRET", "INTAKE_WEBHOOK_SECRET_OLD"})
	if err != nil {
		panic(err)
	}
	verifier, err := webhook.NewStandard(secrets, 0)
	if err != nil {
		panic(err)
	}

	// What the sender does, with the old secret it has not rotated yet.
	now := time.Unix(1_700_000_000, 0)
	body := []byte(`{"type":"referral.created","data":{"id":"r_1"}}`)
	header := http.Header{}
	header.Set("webhook-id", "msg_1")
	header.Set("webhook-timestamp", "1700000000")
	header.Set("webhook-signature", webhook.Sign(verifier.Secrets[1], "msg_1", now, body))

	ev, err := verifier.VerifyWebhook(connectors.WebhookRequest{Method: "POST", Header: header, Body: body}, now)
	fmt.Println(ev.ID, ev.Type, err)

	_, err = verifier.VerifyWebhook(connectors.WebhookRequest{Method: "POST", Header: header, Body: body}, now.Add(time.Hour))
	fmt.Println(err)
	// Output:
	// msg_1 referral.created <nil>
	// standard webhook rejected: timestamp outside tolerance
}
