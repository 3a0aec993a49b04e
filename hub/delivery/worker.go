package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/riverqueue/river"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/switchboard-health/switchboard/connectors"
	"github.com/switchboard-health/switchboard/hub/seal"
)

// Outcome is what one try at a delivery came to, recorded for the status
// API. It carries no PHI.
type Outcome struct {
	TransferID  string
	Entry       int
	Destination string
	// State is delivered, retrying or failed.
	State      string
	CountTry   bool // false for a breaker snooze, which did not reach the vendor
	HTTPStatus int
	ErrorClass connectors.Class
	ErrorCode  string
	At         time.Time
	// VendorRef is the vendor's id for the entry, sealed (JSON of a
	// seal.Envelope), when later entries of the transfer need it.
	VendorRef string
	// Attempt is River's attempt number; LatencyMS how long the vendor
	// call took (0 when none was made); Digest the keyed HMAC of the
	// resource handed to the connector (transferlog.Digest), so the
	// transfer log can say exactly what content was sent.
	Attempt   int
	LatencyMS int64
	Digest    string

	// snoozes is how often River has snoozed the job (not recorded).
	snoozes int
}

// Delivery states recorded by the worker.
const (
	StateQueued    = "queued"
	StateDelivered = "delivered"
	StateRetrying  = "retrying"
	StateFailed    = "failed"
	// StateSkipped: a gate (the destination's consent rule) decided the
	// resource must not go there. Final, and not a failure.
	StateSkipped = "skipped"
	// StateDiscarded: an admin gave up on a failed delivery; its sealed
	// payload is gone. Final.
	StateDiscarded = "discarded"
)

// Gate decides at delivery time whether a destination may receive a
// resource about subject (package consent: the patient's consent at the EHR).
// An error is classified like a delivery failure (a source that is down is
// retried); allowed=false with a PHI-free reason skips the delivery.
type Gate interface {
	Allow(ctx context.Context, subject *Subject) (allowed bool, reason string, err error)
}

// Recorder stores outcomes and returns the number of counted tries so far
// (including this one), which bounds retries independently of River's own
// attempt counter (snoozes do not advance River's).
type Recorder interface {
	RecordOutcome(ctx context.Context, o Outcome) (tries int, err error)
}

// Orderer reports whether an earlier delivery to the same destination about
// the same subject is unfinished (Table.Blocked), so that changes about
// one patient reach a vendor in the order they were accepted.
type Orderer interface {
	Blocked(ctx context.Context, transferID string, entry int, destination string) (bool, error)
}

// Waiting behind an earlier delivery snoozes the job, doubling from
// orderWaitMin up to orderWaitMax. Finishing the earlier one wakes it at
// once (Table.Wake); the snooze is the fallback should a wake be
// lost (a crash between the two), so it stays short enough to matter.
const (
	orderWaitMin = 100 * time.Millisecond
	orderWaitMax = 2 * time.Second
)

// Destination is what the worker needs to know about one destination.
type Destination struct {
	Connector   connectors.Connector
	MaxAttempts int
	// Gate, when set, is asked before every try.
	Gate Gate
}

// Sealer opens sealed payloads and seals the vendor ids kept for later
// entries (seal.Keyring).
type Sealer interface {
	Open(env seal.Envelope, aad []byte) ([]byte, error)
	Seal(plaintext, aad []byte) (seal.Envelope, error)
}

// Worker delivers sealed payloads.
type Worker struct {
	river.WorkerDefaults[Args]
	Keys         Sealer
	Destinations map[string]Destination
	Recorder     Recorder
	// Order, when set, holds a delivery back while an earlier one about the
	// same subject to the same destination is unfinished.
	Order Orderer
	// Refs, Enricher and WriteBacks carry identity across vendors (see
	// identity.go); each is optional.
	Refs Refs
	// States, when set, lets a gate wait for entries of the same transfer
	// at its source (Payload.GateWaits).
	States     States
	Enricher   Enricher
	WriteBacks WriteBacks
	// Ledger, when set, remembers what is written to the destinations in
	// Synced (those that report changes back: webhooks, polls), so their
	// echo is dropped, and skips a vendor change that a later one at the
	// destination supersedes (sync.go). Synced gives, per destination, the
	// resource types it reports changes of; a nil set is every type.
	Ledger Ledger
	Synced map[string]map[string]bool
	Logger *slog.Logger
	// Timeout bounds one try, vendor retries within it included.
	TryTimeout time.Duration
	// Digest, when set, gives the keyed digest of the content sent for the
	// transfer log (transferlog.Digest with the hub's key).
	Digest func(resource []byte) string
	// Failed, when set, hears of every permanent failure (alerts).
	Failed func(ctx context.Context, destination string)
	// Metrics, when set, counts every recorded outcome.
	Metrics Observer
}

// Timeout implements river.Worker.
func (w *Worker) Timeout(*river.Job[Args]) time.Duration {
	if w.TryTimeout > 0 {
		return w.TryTimeout
	}
	return time.Minute
}

// Work delivers one job as a row of named steps, each returning River's
// verdict when it ends the try: order (wait behind an earlier delivery),
// open (the sealed payload), gate (consent, and the entries it waits for),
// prepare (resolve the vendor ids of related entries, enrich from the
// source of truth), supersededHere (a later change the hub knows of at the
// destination), deliver (the connector), then one of supersede, delivered
// or failed to record the outcome and say River's next step. Every step
// that ends a try records what the status API must show. The opened
// payload is PHI:
// it is scrubbed once, by the defer below, however the try ends.
func (w *Worker) Work(ctx context.Context, job *river.Job[Args]) error {
	t, err := w.begin(job)
	if err != nil {
		return err
	}
	if err := w.order(ctx, t); err != nil {
		return err
	}
	p, pt, err := w.open(ctx, t)
	if err != nil {
		return err
	}
	defer scrub(pt, p)
	if done, verdict := w.gate(ctx, t, p); done {
		return verdict
	}
	d, err := w.prepare(ctx, t, p)
	if err != nil {
		return w.failed(ctx, t.log, t.dest, t.out, err)
	}
	superseded, err := w.supersededHere(ctx, t.dest, d)
	if err != nil {
		return w.failed(ctx, t.log, t.dest, t.out, err)
	}
	var res connectors.Result
	if !superseded {
		res, err = w.deliver(ctx, t, d)
		superseded = err == nil && res.Superseded
	}
	switch {
	case superseded:
		return w.supersede(ctx, t)
	case err != nil:
		return w.failed(ctx, t.log, t.dest, t.out, err)
	}
	return w.delivered(ctx, t, p, res)
}

// try is what the steps of one Work share: the job's routing facts, its
// destination, its logger and the outcome taking shape. None of it is PHI.
type try struct {
	job  *river.Job[Args]
	a    Args
	dest Destination
	log  *slog.Logger
	out  Outcome
}

// begin finds the job's destination. Configuration changed under queued
// work is kept for retry: an operator must restore the destination or
// discard the delivery.
func (w *Worker) begin(job *river.Job[Args]) (*try, error) {
	a := job.Args
	log := w.Logger.With("transfer_id", a.TransferID, "entry", a.Entry, "destination", a.Destination, "job_id", job.ID, "attempt", job.Attempt)
	dest, ok := w.Destinations[a.Destination]
	if !ok {
		log.Error("delivery for a destination that is not configured")
		return nil, fmt.Errorf("destination %q is not configured", a.Destination)
	}
	return &try{job: job, a: a, dest: dest, log: log,
		out: Outcome{TransferID: a.TransferID, Entry: a.Entry, Destination: a.Destination, CountTry: true, Attempt: job.Attempt,
			snoozes: Snoozes(job.Metadata)}}, nil
}

// order snoozes the job while an earlier delivery about the same subject to
// the same destination is unfinished; nil lets the try go on.
func (w *Worker) order(ctx context.Context, t *try) error {
	if w.Order == nil {
		return nil
	}
	blocked, err := w.Order.Blocked(ctx, t.a.TransferID, t.a.Entry, t.a.Destination)
	if err != nil {
		t.log.Warn("could not check earlier deliveries; will retry", "error", err)
		return err
	}
	if blocked {
		wait := orderWait(t.job.Metadata)
		t.log.Debug("waiting for an earlier delivery about the same subject", "snooze_ms", wait.Milliseconds())
		return river.JobSnooze(wait)
	}
	return nil
}

// open opens and decodes the sealed payload. It returns the plaintext too,
// for the caller to scrub with the payload; on an error nothing is left to
// scrub. A missing key means the payload was shredded, a failed open or
// decode means tampering or corruption: neither gets better by retrying.
func (w *Worker) open(ctx context.Context, t *try) (*Payload, []byte, error) {
	pt, err := w.Keys.Open(t.a.Sealed, AAD(t.a.TransferID, t.a.Entry, t.a.Destination))
	if err != nil {
		t.out.State, t.out.ErrorClass, t.out.ErrorCode = StateFailed, connectors.Permanent, "payload_unreadable"
		w.record(ctx, t.log, t.out)
		t.log.Error("sealed payload cannot be opened", "error", err)
		return nil, nil, river.JobCancel(fmt.Errorf("open sealed payload: %w", err))
	}
	var p Payload
	if err := json.Unmarshal(pt, &p); err != nil {
		scrub(pt, &p)
		t.out.State, t.out.ErrorClass, t.out.ErrorCode = StateFailed, connectors.Permanent, "payload_corrupt"
		w.record(ctx, t.log, t.out)
		return nil, nil, river.JobCancel(errors.New("decode sealed payload: invalid JSON"))
	}
	return &p, pt, nil
}

// scrub zeroes the buffers of an opened payload that hold PHI: the
// plaintext and the resource and related resources decoded from it
// (json.RawMessage copies, so clearing the plaintext alone leaves them).
// Strings (identifiers, the match) cannot be zeroed in Go; they are left
// to the collector.
func scrub(pt []byte, p *Payload) {
	clear(pt)
	if p == nil {
		return
	}
	clear(p.Resource)
	for _, v := range p.Related {
		clear(v)
	}
}

// gate asks the destination's gate, once the entries it waits for have
// reached its source. done says the try ends here with verdict.
func (w *Worker) gate(ctx context.Context, t *try, p *Payload) (done bool, verdict error) {
	if t.dest.Gate == nil {
		return false, nil
	}
	if p.GateWaits != nil && w.States != nil {
		wait, err := w.gateWaiting(ctx, t.a.TransferID, p.GateWaits)
		if err != nil {
			t.log.Warn("could not check the entries the gate waits for; will retry", "error", err)
			return true, err
		}
		switch wait {
		case gatePending:
			wait := orderWait(t.job.Metadata)
			t.log.Debug("waiting for the gate's source to receive entries of the same transfer", "snooze_ms", wait.Milliseconds())
			return true, river.JobSnooze(wait)
		case gateSourceFailed:
			// No vendor was called: not a try, and no alert for this
			// destination (the source's own failure raised one).
			t.out.State, t.out.CountTry, t.out.ErrorClass, t.out.ErrorCode = StateFailed, false, connectors.Permanent, CodeGateSourceFailed
			w.record(ctx, t.log, t.out)
			t.log.Warn("delivery failed: an entry its gate waited for failed at the gate's source; replay that one first, then this one",
				"gate_source", p.GateWaits.Source)
			return true, river.JobCancel(errors.New("an entry the gate waited for failed at the gate's source"))
		}
	}
	allowed, reason, err := t.dest.Gate.Allow(ctx, p.Subject)
	switch {
	case err != nil:
		return true, w.failed(ctx, t.log, t.dest, t.out, err)
	case !allowed:
		t.out.State, t.out.CountTry, t.out.ErrorCode = StateSkipped, false, reason
		w.record(ctx, t.log, t.out)
		t.log.Info("delivery skipped by the destination's gate", "reason", reason)
		return true, nil
	}
	return false, nil
}

// prepare makes the connector's delivery from the payload and completes it:
// what this destination made of the entries it refers to (resolve), and
// what the source of truth adds (the Enricher). Its Resource and Related
// share the payload's buffers, so the payload's scrub covers them.
func (w *Worker) prepare(ctx context.Context, t *try, p *Payload) (connectors.Delivery, error) {
	a := t.a
	d := connectors.Delivery{
		TransferID:     a.TransferID,
		Entry:          a.Entry,
		Destination:    a.Destination,
		Interaction:    p.Interaction,
		ResourceType:   p.ResourceType,
		ResourceID:     p.ResourceID,
		Match:          p.Match,
		ChangedAt:      p.ChangedAt,
		Resource:       p.Resource,
		IdempotencyKey: IdempotencyKey(a.TransferID, a.Entry, a.Destination, p.KeyGeneration),
		Attempt:        t.job.Attempt,
		Related:        related(p.Related),
	}
	if err := w.resolve(ctx, a, p, &d); err != nil {
		return d, err
	}
	if w.Enricher != nil {
		if err := w.Enricher.Enrich(ctx, a.Destination, &d); err != nil {
			return d, err
		}
	}
	return d, nil
}

// deliver hands d to the connector, timing the call, with the digest of
// what was sent for the transfer log. What is about to be written is
// remembered first under the keys known before the vendor answers (its
// identifiers, the match): a vendor may report the change before it
// answers (Cal.com's webhooks are sent on their own), and that echo must be
// known for the hub's own write. The answer's vendor id is added after,
// alone: the rest is already recorded.
func (w *Worker) deliver(ctx context.Context, t *try, d connectors.Delivery) (connectors.Result, error) {
	if w.Digest != nil {
		t.out.Digest = w.Digest(d.Resource)
	}
	w.wrote(ctx, t.log, d, "")
	start := time.Now()
	res, err := t.dest.Connector.Deliver(ctx, d)
	t.out.LatencyMS = time.Since(start).Milliseconds()
	if err == nil && !res.Superseded && res.VendorID != "" {
		w.wrote(ctx, t.log, d, res.VendorID)
	}
	return res, err
}

// supersede records a delivery skipped because the record changed at the
// destination after the change it carries: the later change wins.
func (w *Worker) supersede(ctx context.Context, t *try) error {
	t.out.State, t.out.CountTry, t.out.ErrorCode = StateSkipped, false, CodeSuperseded
	w.record(ctx, t.log, t.out)
	t.log.Info("delivery skipped: the record changed at the destination after this change (the later change wins)")
	return nil
}

// delivered records a delivery the vendor took, keeps its vendor id for
// later entries of the transfer, and asks for the id to be written back to
// the source of truth.
func (w *Worker) delivered(ctx context.Context, t *try, p *Payload, res connectors.Result) error {
	a, log := t.a, t.log
	t.out.State, t.out.HTTPStatus = StateDelivered, res.Status
	var system string
	if id, ok := t.dest.Connector.(connectors.Identified); ok {
		system = id.IdentifierSystem(p.ResourceType)
	}
	if p.Referenced && res.VendorID != "" {
		var err error
		if t.out.VendorRef, err = w.remember(a, p, res.VendorID, system); err != nil {
			log.Error("could not keep the vendor id for later entries", "error", err)
		}
	}
	w.record(ctx, log, t.out)
	if w.WriteBacks != nil && res.VendorID != "" && system != "" {
		err := w.WriteBacks.WriteBack(context.WithoutCancel(ctx), WriteBack{
			TransferID: a.TransferID, Entry: a.Entry, Destination: a.Destination,
			ResourceType: p.ResourceType, ResourceID: p.ResourceID,
			Ref: connectors.VendorRef{ResourceType: p.ResourceType, ID: res.VendorID, System: system},
		})
		if err != nil {
			// Delivered is delivered: sending again to write the id back
			// would risk a second record at the vendor. The id is lost
			// to the EHR; the vendor's own metadata still names the FHIR
			// resource.
			log.Error("identity write-back not recorded", "error", err)
		}
	}
	log.Info("delivered", "status", res.Status)
	return nil
}

// failed classifies a failed try and tells River what comes next.
func (w *Worker) failed(ctx context.Context, log *slog.Logger, dest Destination, out Outcome, derr error) error {
	var ce *connectors.Error
	errors.As(derr, &ce)
	if ce != nil {
		out.HTTPStatus, out.ErrorCode = ce.Status, ce.Code
	}
	out.ErrorClass = connectors.ClassOf(derr)
	if out.ErrorCode == "" {
		out.ErrorCode = "error"
	}
	if ctx.Err() != nil && errors.Is(derr, ctx.Err()) {
		out.ErrorCode = "timeout"
	}

	switch out.ErrorClass {
	case connectors.Permanent:
		out.State = StateFailed
		w.record(ctx, log, out)
		log.Warn("delivery failed permanently", "status", out.HTTPStatus, "error_code", out.ErrorCode)
		w.failedFinally(ctx, out.Destination)
		return river.JobCancel(derr)
	case connectors.Throttled:
		// The destination's rate limit held the call back before it
		// reached the vendor: nothing happened there, so nothing is
		// recorded and no try is counted (a snooze does not advance
		// River's attempt either). The rate limit counts it (metrics).
		wait := throttleWait(ce, out.snoozes)
		log.Debug("destination at its rate limit, snoozing", "snooze_ms", wait.Milliseconds())
		return river.JobSnooze(wait)
	case connectors.BreakerOpen:
		out.State, out.CountTry = StateRetrying, false
		w.record(ctx, log, out)
		wait := time.Second
		if ce != nil && ce.RetryAfter > 0 {
			wait = ce.RetryAfter
		}
		log.Info("destination breaker open, snoozing", "snooze_ms", wait.Milliseconds())
		return river.JobSnooze(wait)
	default:
		out.State = StateRetrying
		tries := w.record(ctx, log, out)
		if dest.MaxAttempts > 0 && tries >= dest.MaxAttempts {
			out.State, out.CountTry = StateFailed, false
			out.ErrorCode = "retries_exhausted:" + out.ErrorCode
			w.record(ctx, log, out)
			log.Warn("delivery failed after its last attempt", "tries", tries, "status", out.HTTPStatus)
			w.failedFinally(ctx, out.Destination)
			return river.JobCancel(derr)
		}
		if ce != nil && ce.RetryAfter > 0 {
			log.Info("vendor asked to retry later", "retry_after_ms", ce.RetryAfter.Milliseconds(), "status", out.HTTPStatus)
			return river.JobSnooze(ce.RetryAfter)
		}
		log.Info("delivery will be retried", "status", out.HTTPStatus, "error_code", out.ErrorCode)
		return derr
	}
}

// failedFinally tells the alerting of a delivery that has failed for good.
func (w *Worker) failedFinally(ctx context.Context, destination string) {
	if w.Failed != nil {
		w.Failed(context.WithoutCancel(ctx), destination)
	}
}

// Observer counts outcomes (package metrics implements it).
type Observer interface {
	Delivery(destination, outcome, errorClass string, took time.Duration)
}

// record writes the outcome; a failure to record must not turn a delivered
// message into a retry storm, so it is logged, and the try count falls back
// to River's attempt.
func (w *Worker) record(ctx context.Context, log *slog.Logger, o Outcome) int {
	o.At = time.Now()
	trace.SpanFromContext(ctx).SetAttributes(attribute.String("switchboard.destination", o.Destination),
		attribute.String("switchboard.transfer_id", o.TransferID), attribute.Int("switchboard.entry", o.Entry),
		attribute.String("switchboard.outcome", o.State), attribute.String("switchboard.error_class", string(o.ErrorClass)))
	if w.Metrics != nil {
		w.Metrics.Delivery(o.Destination, o.State, string(o.ErrorClass), time.Duration(o.LatencyMS)*time.Millisecond)
	}
	tries, err := w.Recorder.RecordOutcome(context.WithoutCancel(ctx), o)
	if err != nil {
		log.Error("record delivery outcome", "error", err)
	}
	return tries
}

// throttleWait is the snooze of a delivery the rate limit held back: the
// limit's own wait, but at least a floor that doubles with each snooze
// from throttleWaitMin up to throttleWaitMax, with up to half again of
// jitter. While a backlog is far ahead of the vendor's limit, the waiting
// deliveries then come back spread out and less often, rather than every
// one of them asking the limit again every few milliseconds.
func throttleWait(ce *connectors.Error, snoozes int) time.Duration {
	wait := throttleWaitMin
	if ce != nil {
		wait = max(wait, ce.RetryAfter)
	}
	wait = max(wait, min(throttleWaitMin<<min(snoozes, 10), throttleWaitMax))
	return wait + time.Duration(rand.Int64N(int64(wait)/2+1))
}

const (
	throttleWaitMin = 20 * time.Millisecond
	throttleWaitMax = time.Second
)

// orderWait is the snooze of a delivery waiting for another one: doubling
// with each snooze from orderWaitMin up to orderWaitMax.
func orderWait(metadata []byte) time.Duration {
	return min(orderWaitMin<<min(Snoozes(metadata), 8), orderWaitMax)
}

// Snoozes is how often River has snoozed a job (its metadata counts it).
func Snoozes(metadata []byte) int {
	var m struct {
		Snoozes int `json:"snoozes"`
	}
	_ = json.Unmarshal(metadata, &m)
	return m.Snoozes
}

func related(m map[string]json.RawMessage) map[string][]byte {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string][]byte, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// Final reports whether a delivery state is the end of it.
func Final(state string) bool {
	return state == StateDelivered || state == StateFailed || state == StateSkipped || state == StateDiscarded
}
