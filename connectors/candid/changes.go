package candid

import (
	"context"
	"errors"

	"github.com/switchboard-health/switchboard/connectors"
	mapping "github.com/switchboard-health/switchboard/mappings/candid"
)

// TranslateWebhook implements connectors.WebhookTranslator: a claim status
// change (mappings/candid.EventClaimStatusUpdated) becomes a ClaimResponse,
// upserted at the destinations on the encounter's identifier.
func (c *Connector) TranslateWebhook(_ context.Context, ev connectors.WebhookEvent) ([]connectors.Inbound, error) {
	e, err := mapping.ClaimEventFromWebhook(ev.Body)
	if errors.Is(err, mapping.ErrIgnored) {
		return nil, nil
	}
	if err != nil {
		return nil, connectors.PermanentError("webhook_mapping", err)
	}
	at := e.At
	if at.IsZero() {
		at = ev.Time
	}
	return []connectors.Inbound{{
		ResourceType: "ClaimResponse", Interaction: connectors.Update,
		Match:    mapping.SystemEncounter + "|" + e.EncounterID,
		Resource: e.ClaimResponse, Record: e.EncounterID, ChangedAt: at,
	}}, nil
}
