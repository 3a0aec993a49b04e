package calcom

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/switchboard-health/switchboard/connectors"
	mapping "github.com/switchboard-health/switchboard/mappings/calcom"
)

// TranslateWebhook implements connectors.WebhookTranslator: a booking
// created, rescheduled or cancelled in Cal.com becomes an Appointment,
// upserted at the destinations on the booking's uid (the moved booking's
// uid on a reschedule, which Cal.com answers with a new booking). The
// creation webhook of a booking the hub itself made (metadata
// switchboard_origin) is its own write coming back: recorded, dropped.
func (c *Connector) TranslateWebhook(_ context.Context, ev connectors.WebhookEvent) ([]connectors.Inbound, error) {
	e, err := mapping.AppointmentFromWebhook(ev.Body)
	if errors.Is(err, mapping.ErrIgnored) {
		return nil, nil
	}
	if err != nil {
		return nil, connectors.PermanentError("webhook_mapping", err)
	}
	return []connectors.Inbound{{
		ResourceType: "Appointment", Interaction: connectors.Update,
		Match:    mapping.BookingSystem + "|" + e.MatchUID(),
		Resource: e.Appointment,
		Ours:     e.FromHub() && e.Trigger == mapping.TriggerCreated,
		// The booking now current: what the hub's ledger knows the booking
		// by, the same uid a delivery here reports back.
		Record:    e.UID,
		ChangedAt: eventTime(ev),
	}}, nil
}

// eventTime is when Cal.com says the event happened (the body's
// createdAt); Cal.com's signature carries no timestamp.
func eventTime(ev connectors.WebhookEvent) time.Time {
	var b struct {
		CreatedAt string `json:"createdAt"`
	}
	if json.Unmarshal(ev.Body, &b) == nil {
		if t, err := time.Parse(time.RFC3339Nano, b.CreatedAt); err == nil {
			return t
		}
	}
	return ev.Time
}
