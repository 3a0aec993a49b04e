package webhook

import (
	"fmt"
	"time"

	"github.com/switchboard-health/switchboard/connectors"
)

// Receiver is embedded by a connector that takes webhooks at
// POST /webhooks/{destination}: it holds the verifier built from the
// destination's `webhook_secrets_env` (several variables, so a secret can be
// rotated without downtime). Without secrets every webhook is refused.
type Receiver struct {
	verifier connectors.WebhookVerifier
}

// NewReceiver builds the verifier from the secrets the environment
// variables vars hold; no variables means webhooks are not taken. typ and
// dest name the connector and destination in errors.
func NewReceiver(p connectors.Params, typ string, vars []string, build func(secrets []string) (connectors.WebhookVerifier, error)) (Receiver, error) {
	if len(vars) == 0 {
		return Receiver{}, nil
	}
	secrets, err := Secrets(p.Env, vars)
	if err != nil {
		return Receiver{}, fmt.Errorf("%s destination %q: webhook_secrets_env: %w", typ, p.Name, err)
	}
	v, err := build(secrets)
	if err != nil {
		return Receiver{}, fmt.Errorf("%s destination %q: %w", typ, p.Name, err)
	}
	return Receiver{verifier: v}, nil
}

// VerifyWebhook implements connectors.WebhookVerifier.
func (r Receiver) VerifyWebhook(req connectors.WebhookRequest, now time.Time) (connectors.WebhookEvent, error) {
	if r.verifier == nil {
		return connectors.WebhookEvent{}, Reject("config", "webhooks are not configured for this destination (webhook_secrets_env)")
	}
	return r.verifier.VerifyWebhook(req, now)
}
