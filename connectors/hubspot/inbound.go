package hubspot

import (
	"context"
	"errors"

	"github.com/switchboard-health/switchboard/connectors"
	mapping "github.com/switchboard-health/switchboard/mappings/hubspot"
)

// TranslateWebhook implements connectors.WebhookTranslator: a contact's
// global email opt-out (hs_email_optout) becomes the patient's marketing
// Consent, deny or permit, upserted on the contact's consent key so that
// the latest change is the one the consent gate reads. Other events map
// to nothing; a malformed event fails the batch (HubSpot retries it).
func (c *Connector) TranslateWebhook(_ context.Context, ev connectors.WebhookEvent) ([]connectors.Inbound, error) {
	events, err := mapping.ConsentEvents(ev.Body)
	if err != nil {
		return nil, connectors.PermanentError("webhook_mapping", err)
	}
	var out []connectors.Inbound
	for _, e := range events {
		switch {
		case errors.Is(e.Err, mapping.ErrIgnored):
			continue
		case e.Err != nil:
			return nil, connectors.PermanentError("webhook_mapping", e.Err)
		}
		out = append(out, connectors.Inbound{
			ResourceType: "Consent", Interaction: connectors.Update,
			Match: e.KeySystem + "|" + e.KeyValue, Resource: e.Consent,
		})
	}
	return out, nil
}
