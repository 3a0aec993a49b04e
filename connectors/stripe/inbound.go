package stripe

import (
	"context"
	"errors"

	"github.com/switchboard-health/switchboard/connectors"
	mapping "github.com/switchboard-health/switchboard/mappings/stripe"
)

// TranslateWebhook implements connectors.WebhookTranslator: a payment
// succeeded or refunded becomes a PaymentNotice, upserted at the
// destinations on its Stripe identifier (the three events of one card
// payment share it, so they make one PaymentNotice). Other events map to
// nothing. A PaymentNotice is never something the hub wrote to Stripe, so
// none is an echo.
func (c *Connector) TranslateWebhook(_ context.Context, ev connectors.WebhookEvent) ([]connectors.Inbound, error) {
	e, err := mapping.PaymentNoticeFromEvent(ev.Body, mapping.EventOptions{})
	if errors.Is(err, mapping.ErrIgnored) {
		return nil, nil
	}
	if err != nil {
		return nil, connectors.PermanentError("webhook_mapping", err)
	}
	return []connectors.Inbound{{
		ResourceType: "PaymentNotice", Interaction: connectors.Update,
		Match: e.KeySystem + "|" + e.KeyValue, Resource: e.PaymentNotice,
	}}, nil
}
