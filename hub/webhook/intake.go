// Package webhook takes vendors' webhooks in
// (docs/decisions/0006-webhooks-in.md): the intake verifies the vendor's
// signature, de-duplicates by the vendor's event id and enqueues the work, all
// before answering, in one transaction; the worker then maps the event to FHIR
// through the connector and routes it like any write, to every destination but
// the vendor it came from. Nothing from a body is stored in clear: the job
// carries it sealed, the webhook table only ids, hashes, outcomes and PHI-free
// reasons.
package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"time"

	"github.com/riverqueue/river"

	"github.com/switchboard-health/switchboard/connectors"
	"github.com/switchboard-health/switchboard/hub/seal"
	"github.com/switchboard-health/switchboard/hub/store"
	"github.com/switchboard-health/switchboard/hub/transferlog"
)

// Kind is the River job kind of a received webhook.
const Kind = "switchboard.webhook"

// Queue is the River queue webhook jobs run on.
const Queue = "webhooks"

// Args is what River stores: the source, the event's keyed hash and the
// event sealed.
type Args struct {
	Source    string        `json:"source"`
	EventHash string        `json:"event_hash"`
	Sealed    seal.Envelope `json:"sealed"`
}

// Kind implements river.JobArgs.
func (Args) Kind() string { return Kind }

func aad(source, eventHash string) []byte { return []byte(Kind + "|" + source + "|" + eventHash) }

// payload is the sealed event.
type payload struct {
	ID   string    `json:"id"`
	Type string    `json:"type,omitempty"`
	Time time.Time `json:"time,omitzero"`
	Body []byte    `json:"body"`
}

// Outcomes of a received webhook.
const (
	Accepted  = "accepted"
	Duplicate = "duplicate"
	Rejected  = "rejected"
)

// ErrUnknownSource means no destination of that name takes webhooks.
var ErrUnknownSource = errors.New("webhook: no destination of that name takes webhooks")

// ThrottledError means a source's verified webhook was refused, not
// stored, because the source is over its inbound rate: the vendor is told
// to retry after RetryAfter (429), as vendors do.
type ThrottledError struct {
	RetryAfter time.Duration
}

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("webhook: source over its rate; retry after %s", e.RetryAfter)
}

// Intake receives webhooks.
type Intake struct {
	Store store.Store
	Keys  *seal.Keyring
	MAC   seal.MAC
	// Sources are the destinations whose connectors verify webhooks.
	Sources map[string]connectors.WebhookVerifier
	// Log, when set, records duplicates in the transfer log.
	Log Appender
	// Rejections counts refused requests for the metric and the transfer
	// log, aggregated (rejections.go); nil counts nothing. Nothing of a
	// refused request is stored one row each.
	Rejections *Rejections
	Logger     *slog.Logger
	Now        func() time.Time
	// Admit, when set, is the source's inbound limit: zero admits the
	// event, else how long until the source may send again. It is asked
	// after the signature verifies, so that forged requests cannot spend
	// a vendor's allowance and have its real events refused.
	Admit func(source string) time.Duration
}

// Reject counts a request to source refused before it reached Receive
// (ReasonOversize). A source that takes no webhooks is counted as "".
func (in *Intake) Reject(source, reason string) {
	if _, ok := in.Sources[source]; !ok {
		source = ""
	}
	in.Rejections.Add(source, reason)
}

// Receive verifies a webhook for source and, unless its event was seen
// before, stores it with its job; it returns the outcome. A verification
// failure is recorded and returned (it wraps connectors.ErrUnauthenticated).
func (in *Intake) Receive(ctx context.Context, source string, r connectors.WebhookRequest) (string, error) {
	v, ok := in.Sources[source]
	if !ok {
		in.Rejections.Add("", ReasonUnknownSource)
		return "", ErrUnknownSource
	}
	now := time.Now()
	if in.Now != nil {
		now = in.Now()
	}
	ev, err := v.VerifyWebhook(r, now)
	if err != nil {
		// Unauthenticated: counted, never stored one row each (anyone can
		// send these as fast as the hub answers).
		in.Rejections.Add(source, rejectionCode(err))
		return Rejected, err
	}
	if in.Admit != nil {
		if wait := in.Admit(source); wait > 0 {
			return "", &ThrottledError{RetryAfter: wait}
		}
	}
	hash := in.MAC.Sum([]byte("webhook-event"), []byte(source), []byte(ev.ID))
	typ := eventType(ev.Type)
	pt, err := json.Marshal(payload{ID: ev.ID, Type: ev.Type, Time: ev.Time, Body: ev.Body})
	if err != nil {
		return "", err
	}
	env, err := in.Keys.Seal(pt, aad(source, hash))
	clear(pt)
	if err != nil {
		return "", fmt.Errorf("webhook: seal: %w", err)
	}
	err = in.Store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		ids, err := tx.InsertJobs(ctx, []river.InsertManyParams{{Args: Args{Source: source, EventHash: hash, Sealed: env},
			InsertOpts: &river.InsertOpts{Queue: Queue, MaxAttempts: 12}}})
		if err != nil {
			return err
		}
		row := receivedRow(now, source, hash, typ, Accepted)
		if in.Store.Dialect() == store.Postgres {
			// One round trip for the de-duplication row and its log row:
			// this is the acknowledgement's critical path.
			detail, _ := json.Marshal(row.Detail)
			n, err := tx.Exec(ctx, `WITH w AS (INSERT INTO switchboard_webhook (source, event_hash, event_type, outcome, job_id, received_at)
				VALUES ($1, $2, $3, 'accepted', $4, $5)
				ON CONFLICT (source, event_hash) WHERE outcome = 'accepted' DO NOTHING RETURNING received_at)
				INSERT INTO switchboard_log_queue (at, event, direction, source, outcome, http_status, actor, detail)
				SELECT w.received_at, $6, $7, $1, $8, $9, $10, $11 FROM w`,
				source, hash, store.Null(typ), ids[0], now.UnixMicro(),
				row.Event, row.Direction, row.Outcome, row.HTTPStatus, row.Actor, string(detail))
			if err != nil {
				return fmt.Errorf("webhook: record: %w", err)
			}
			if n == 0 {
				return errSeen
			}
			return nil
		}
		n, err := tx.Exec(ctx, `INSERT INTO switchboard_webhook (source, event_hash, event_type, outcome, job_id, received_at)
			VALUES ($1, $2, $3, 'accepted', $4, $5)
			ON CONFLICT (source, event_hash) WHERE outcome = 'accepted' DO NOTHING`, source, hash, store.Null(typ), ids[0], now.UnixMicro())
		if err != nil {
			return fmt.Errorf("webhook: record: %w", err)
		}
		if n == 0 {
			return errSeen
		}
		return transferlog.Stage(ctx, tx, row)
	})
	if errors.Is(err, errSeen) {
		in.record(ctx, source, hash, typ, Duplicate, "", now)
		if lerr := in.Log.Append(ctx, receivedRow(now, source, hash, typ, Duplicate)); lerr != nil {
			in.Logger.Error("transfer log: webhook duplicate", "source", source, "error", lerr)
		}
		return Duplicate, nil
	}
	if err != nil {
		return "", err
	}
	return Accepted, nil
}

// receivedRow is the transfer log's row of a webhook taken in: the source,
// the vendor's event type and the keyed hash of its event id, never the body.
func receivedRow(at time.Time, source, hash, typ, outcome string) transferlog.Row {
	d := map[string]any{"event_hash": hash}
	if typ != "" {
		d["event_type"] = typ
	}
	return transferlog.Row{At: at, Event: transferlog.EventWebhookReceived, Direction: transferlog.Inbound,
		Source: source, Outcome: outcome, HTTPStatus: 200, Actor: "webhook:" + source, Detail: d}
}

// errSeen rolls back the job of an event seen before.
var errSeen = errors.New("webhook: event seen before")

// record writes a row outside the accept transaction (duplicates, which
// are signed); failing to is logged, not answered.
func (in *Intake) record(ctx context.Context, source, hash, typ, outcome, reason string, at time.Time) {
	if _, err := in.Store.DB().Exec(ctx, `INSERT INTO switchboard_webhook (source, event_hash, event_type, outcome, reason, received_at)
		VALUES ($1, $2, $3, $4, $5, $6)`, source, store.Null(hash), store.Null(typ), outcome, store.Null(reason), at.UnixMicro()); err != nil {
		in.Logger.Error("record webhook", "source", source, "outcome", outcome, "error", err)
	}
}

// eventTypePattern keeps an event type that looks like one (letters,
// digits, dots, underscores, dashes): it is stored and logged.
var eventTypePattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

func eventType(t string) string {
	if eventTypePattern.MatchString(t) {
		return t
	}
	return ""
}
