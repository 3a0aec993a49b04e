package connectortest

import (
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-health/switchboard/connectors"
	"github.com/switchboard-health/switchboard/connectors/webhook"
)

// The reference vector of the Standard Webhooks Go library
// (github.com/standard-webhooks/standard-webhooks, libraries/go/webhook_test.go,
// TestWebhookSign), as connectors/webhook's tests hold it.
const (
	standardSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	standardNext      = "whsec_a2l0LXJvdGF0ZWQtc2VjcmV0LTMyLWJ5dGVzLWxvbmch"
	standardID        = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	standardUnix      = 1614265330
	standardBody      = `{"test": 2432232314}`
	standardSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

// StandardWebhook describes a connector that verifies Standard Webhooks
// (webhook.NewStandard with webhook.DefaultTolerance, as candid and fhir
// do), with the scheme's reference vector; body is a body the vendor
// sends, best with a canary in it.
func StandardWebhook(body []byte) *Webhook {
	return &Webhook{
		New: func(secrets []string) (connectors.WebhookVerifier, error) {
			return webhook.NewStandard(secrets, webhook.DefaultTolerance)
		},
		Secrets:   [2]string{standardSecret, standardNext},
		Sign:      signStandard,
		Body:      body,
		Tolerance: webhook.DefaultTolerance,
		Vectors: []WebhookVector{{
			Name: "Standard Webhooks reference", Secrets: []string{standardSecret},
			Request: standardRequest(standardID, standardUnix, standardSignature, []byte(standardBody)),
			Now:     time.Unix(standardUnix, 0), Valid: true,
		}, {
			Name: "Standard Webhooks reference, another message id", Secrets: []string{standardSecret},
			Request: standardRequest("msg_other", standardUnix, standardSignature, []byte(standardBody)),
			Now:     time.Unix(standardUnix, 0), Valid: false,
		}},
	}
}

// signStandard signs as a Standard Webhooks sender does: the secret is
// base64 after "whsec_".
func signStandard(secret string, body []byte, at time.Time) connectors.WebhookRequest {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		panic("connectortest: a Standard Webhooks secret is whsec_ and base64: " + err.Error())
	}
	const id = "msg_kit"
	return standardRequest(id, at.Unix(), webhook.Sign(key, id, at, body), body)
}

func standardRequest(id string, unix int64, sig string, body []byte) connectors.WebhookRequest {
	h := http.Header{}
	h.Set(webhook.HeaderID, id)
	h.Set(webhook.HeaderTimestamp, strconv.FormatInt(unix, 10))
	h.Set(webhook.HeaderSignature, sig)
	return connectors.WebhookRequest{Method: http.MethodPost, URL: "https://hub.example/webhooks/kit", Header: h, Body: body}
}
