package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"

	"github.com/riverqueue/river"

	"github.com/switchboard-health/switchboard/connectors"
	"github.com/switchboard-health/switchboard/hub/inbound"
	"github.com/switchboard-health/switchboard/hub/ledger"
	"github.com/switchboard-health/switchboard/hub/seal"
	"github.com/switchboard-health/switchboard/hub/transfer"
	"github.com/switchboard-health/switchboard/hub/transferlog"
)

// Validator checks a mapped resource as strictly as the API checks a
// client's (nil skips it; mappings have golden tests validating them).
type Validator func(resourceType string, body []byte) error

// Worker maps a received event to FHIR and routes it.
type Worker struct {
	river.WorkerDefaults[Args]
	Keys        *seal.Keyring
	Translators map[string]connectors.WebhookTranslator
	Transfers   inbound.Acceptor
	Validate    Validator
	// Ledger, when set, drops a change that is the hub's own write coming
	// back or that a later change already overtook (package ledger).
	Ledger inbound.Ledger
	// Log, when set, records dropped changes in the transfer log.
	Log    Appender
	Logger *slog.Logger
}

// Appender appends to the transfer log (package transferlog).
type Appender interface {
	Append(ctx context.Context, row transferlog.Row) error
}

// Work implements river.Worker. Each change becomes one transfer whose
// Idempotency-Key is the event id and the change's index, so a retried job
// finds the transfers it already made instead of making them twice.
func (w *Worker) Work(ctx context.Context, job *river.Job[Args]) error {
	a := job.Args
	log := w.Logger.With("source", a.Source, "job_id", job.ID)
	pt, err := w.Keys.Open(a.Sealed, aad(a.Source, a.EventHash))
	if err != nil {
		return river.JobCancel(fmt.Errorf("open webhook: %w", err))
	}
	var p payload
	err = json.Unmarshal(pt, &p)
	clear(pt)
	if err != nil {
		return river.JobCancel(errors.New("decode webhook: invalid JSON"))
	}
	log = log.With("event_type", eventType(p.Type))
	tr := w.Translators[a.Source]
	if tr == nil {
		log.Warn("webhook source has no translation; event recorded, not routed")
		return nil
	}
	changes, err := tr.TranslateWebhook(ctx, connectors.WebhookEvent{ID: p.ID, Type: p.Type, Time: p.Time, Body: p.Body})
	if err != nil {
		if wait, held := connectors.HeldBack(err); held {
			// A translation that reads from the vendor was held back by
			// its breaker or rate limit: wait, without spending a try.
			return river.JobSnooze(wait)
		}
		if connectors.ClassOf(err) == connectors.Permanent {
			log.Warn("webhook cannot be mapped", "error", err)
			return river.JobCancel(err)
		}
		return err
	}
	if len(changes) == 0 {
		log.Info("webhook maps to no change")
	}
	for i, c := range changes {
		if c.Ours {
			log.Info("webhook carries the hub's own write; dropped (no loop)", "resource_type", c.ResourceType)
			w.dropped(ctx, a.Source, c.ResourceType, "own_write")
			continue
		}
		var keys []string
		if c.Record != "" {
			keys = []string{c.ResourceType + "/" + c.Record}
		}
		if c.Match != "" {
			// The record before the vendor's id for it is known to the
			// hub: the echo of a write still in flight (ledger.Judge).
			keys = append(keys, ledger.MatchKey(c.ResourceType, c.Match))
		}
		res, err := inbound.Router{Ledger: w.Ledger, Validate: w.Validate, Transfers: w.Transfers}.Route(ctx, inbound.Change{
			Source: a.Source, ClientID: "webhook:" + a.Source, IdempotencyKey: a.EventHash + "#" + strconv.Itoa(i),
			Entry:     transfer.Entry{Interaction: c.Interaction, ResourceType: c.ResourceType, Resource: c.Resource, Match: c.Match},
			ChangedAt: c.ChangedAt, Keys: keys,
		})
		if err != nil {
			return fmt.Errorf("webhook change: %w", err)
		}
		switch res.Outcome {
		case inbound.Unchanged, inbound.Stale:
			log.Info("webhook change dropped", "resource_type", c.ResourceType, "verdict", string(res.Outcome))
			w.dropped(ctx, a.Source, c.ResourceType, string(res.Outcome))
		case inbound.Invalid:
			log.Error("mapped webhook resource is not valid FHIR", "resource_type", c.ResourceType, "error", res.Reason)
			return river.JobCancel(fmt.Errorf("mapped %s is invalid", c.ResourceType))
		case inbound.NoRoute:
			log.Info("webhook change has no route", "resource_type", c.ResourceType)
		default:
			log.Info("webhook change routed", "resource_type", c.ResourceType, "transfer_id", res.Transfer.ID,
				"replayed", res.Outcome == inbound.Replayed)
		}
	}
	return nil
}

// dropped records a change not routed (its reason: own_write, unchanged,
// stale) in the transfer log.
func (w *Worker) dropped(ctx context.Context, source, resourceType, reason string) {
	if w.Log == nil {
		return
	}
	if err := w.Log.Append(ctx, transferlog.Row{Event: transferlog.EventChangeDropped, Direction: transferlog.Inbound,
		Source: source, ResourceType: resourceType, Outcome: reason, Actor: "webhook:" + source}); err != nil {
		w.Logger.Error("transfer log", "error", err)
	}
}
