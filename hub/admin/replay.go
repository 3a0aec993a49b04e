package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/switchboard-health/switchboard/hub/delivery"
	"github.com/switchboard-health/switchboard/hub/store"
	"github.com/switchboard-health/switchboard/hub/transferlog"
)

// ErrGone means a failed sync's sealed payload no longer exists (purged
// after the replay window, or its key retired): only the source can send
// the data again.
var ErrGone = errors.New("admin: the payload was purged after the replay window; the source must send it again")

// ErrNotFailed means the delivery exists but is not a failed sync (it was
// replayed or discarded meanwhile, or never failed).
var ErrNotFailed = errors.New("admin: the delivery is not a failed sync")

// Replayed reports one replay.
type Replayed struct {
	Replayed      int `json:"replayed"`
	KeyGeneration int `json:"key_generation"`
}

// sealed is a failed delivery's job as River keeps it.
type sealed struct {
	args        delivery.Args
	queue       string
	maxAttempts int
}

// job reads the River job that holds a failed sync's sealed payload.
func (s *Service) job(ctx context.Context, q store.Querier, f Failure) (sealed, error) {
	if f.Payload == "purged" || !f.jobID.Valid {
		return sealed{}, ErrGone
	}
	var raw []byte
	var j sealed
	args := "args"
	if s.Store.Dialect() == store.SQLite {
		args = "json(args)" // River keeps SQLite args as binary JSONB
	}
	err := q.QueryRow(ctx, `SELECT `+args+`, queue, max_attempts FROM river_job WHERE id = $1`, f.jobID.Int64).Scan(&raw, &j.queue, &j.maxAttempts)
	if store.IsNoRows(err) {
		return sealed{}, ErrGone
	}
	if err != nil {
		return sealed{}, fmt.Errorf("admin: read job of %s: %w", f.ID, err)
	}
	if err := json.Unmarshal(raw, &j.args); err != nil {
		return sealed{}, fmt.Errorf("admin: job of %s: args are not a delivery's", f.ID)
	}
	if j.args.TransferID != f.TransferID || j.args.Entry != f.Entry || j.args.Destination != f.Destination {
		return sealed{}, fmt.Errorf("admin: job of %s belongs to another delivery", f.ID)
	}
	return j, nil
}

// open returns a failed sync's payload (PHI: the caller clears and drops
// it, never logs or returns it).
func (s *Service) open(j sealed) (delivery.Payload, []byte, error) {
	a := j.args
	pt, err := s.Keys.Open(a.Sealed, delivery.AAD(a.TransferID, a.Entry, a.Destination))
	if err != nil {
		// A retired key shredded it: as gone as a purge.
		return delivery.Payload{}, nil, ErrGone
	}
	var p delivery.Payload
	if err := json.Unmarshal(pt, &p); err != nil {
		clear(pt)
		return delivery.Payload{}, nil, fmt.Errorf("admin: sealed payload of %s is not a delivery payload", a.TransferID)
	}
	return p, pt, nil
}

// Replay puts a failed sync back on its destination's queue with the same
// sealed payload, re-sealed under the active key. When the vendor answered
// the last try (an HTTP status), the idempotency key moves to a new
// generation: a vendor that caches results by key (Stripe keeps a failure
// for 24 hours) would otherwise answer the replay with the cached failure.
// After a timeout the key stays, because the vendor may have done the work
// and the same key is what keeps it from doing it twice
// (docs/decisions/0005-delivery-semantics.md). Two admins replaying at once
// replay it once.
func (s *Service) Replay(ctx context.Context, actor string, k Key) (Replayed, error) {
	var out Replayed
	err := s.Store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		f, err := s.delivery(ctx, tx, k)
		if err != nil {
			return err
		}
		if f.State != delivery.StateFailed {
			return ErrNotFailed
		}
		j, err := s.job(ctx, tx, f)
		if err != nil {
			return err
		}
		p, pt, err := s.open(j)
		if err != nil {
			return err
		}
		clear(pt)
		gen := f.keyGeneration
		if f.HTTPStatus != 0 {
			gen++
		}
		p.KeyGeneration = gen
		body, err := json.Marshal(p)
		if err != nil {
			return fmt.Errorf("admin: encode payload: %w", err)
		}
		env, err := s.Keys.Seal(body, delivery.AAD(k.TransferID, k.Entry, k.Destination))
		clear(body)
		clear(p.Resource)
		if err != nil {
			return fmt.Errorf("admin: seal: %w", err)
		}
		args := j.args
		args.Sealed = env
		ids, err := tx.InsertJobs(ctx, []river.InsertManyParams{{Args: args,
			InsertOpts: &river.InsertOpts{Queue: j.queue, MaxAttempts: j.maxAttempts}}})
		if err != nil {
			return err
		}
		now := s.now()
		// The guard on state makes a concurrent replay of the same failure
		// a no-op: the loser's transaction rolls back with its job.
		n, err := tx.Exec(ctx, `UPDATE switchboard_delivery SET state = 'queued', job_id = $4, replays = replays + 1,
			key_generation = $5, attempts = 0, error_class = NULL, error_code = NULL, updated_at = $6
			WHERE transfer_id = $1 AND entry = $2 AND destination = $3 AND state = 'failed'`,
			k.TransferID, k.Entry, k.Destination, ids[0], gen, now.UnixMicro())
		if err != nil {
			return fmt.Errorf("admin: requeue %s: %w", k, err)
		}
		if n == 0 {
			return ErrNotFailed
		}
		// The old job's envelope lives on in the new one; keep one copy.
		if _, err := tx.Exec(ctx, `DELETE FROM river_job WHERE id = $1`, f.jobID.Int64); err != nil {
			return fmt.Errorf("admin: remove the failed job of %s: %w", k, err)
		}
		out = Replayed{Replayed: 1, KeyGeneration: gen}
		return transferlog.Stage(ctx, tx, actionRow(now, transferlog.EventReplay, actor, f, map[string]any{
			"key_generation": gen, "previous_error_class": f.ErrorClass, "previous_status": f.HTTPStatus}))
	})
	return out, err
}

// Discard gives up on a failed sync: the row says discarded and the sealed
// payload is deleted at once.
func (s *Service) Discard(ctx context.Context, actor string, k Key) error {
	return s.Store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		f, err := s.delivery(ctx, tx, k)
		if err != nil {
			return err
		}
		now := s.now()
		n, err := tx.Exec(ctx, `UPDATE switchboard_delivery SET state = 'discarded', updated_at = $4,
			purged_at = COALESCE(purged_at, $4)
			WHERE transfer_id = $1 AND entry = $2 AND destination = $3 AND state = 'failed'`,
			k.TransferID, k.Entry, k.Destination, now.UnixMicro())
		if err != nil {
			return fmt.Errorf("admin: discard %s: %w", k, err)
		}
		if n == 0 {
			return ErrNotFailed
		}
		if f.jobID.Valid {
			if _, err := tx.Exec(ctx, `DELETE FROM river_job WHERE id = $1`, f.jobID.Int64); err != nil {
				return fmt.Errorf("admin: delete the job of %s: %w", k, err)
			}
		}
		return transferlog.Stage(ctx, tx, actionRow(now, transferlog.EventDiscard, actor, f, map[string]any{
			"error_class": f.ErrorClass}))
	})
}

// Bulk is a bulk replay or discard: failures by id, or all matching a filter.
type Bulk struct {
	Filter *Filter  `json:"filter,omitempty"`
	IDs    []string `json:"ids,omitempty"`
	DryRun bool     `json:"dry_run"`
}

// BulkResult counts what a bulk action did (or, dry, would do).
type BulkResult struct {
	Matched   int  `json:"matched"`
	Replayed  int  `json:"replayed"`
	Discarded int  `json:"discarded"`
	Gone      int  `json:"gone"`
	Skipped   int  `json:"skipped"`
	DryRun    bool `json:"dry_run"`
}

// keys resolves a bulk request to failure keys.
func (s *Service) keys(ctx context.Context, b Bulk) ([]Failure, error) {
	if (b.Filter == nil) == (len(b.IDs) == 0) {
		return nil, errors.New("give either ids or a filter")
	}
	if b.Filter != nil {
		var all []Failure
		after := ""
		for {
			page, next, err := s.Failures(ctx, *b.Filter, after, 500)
			if err != nil {
				return nil, err
			}
			all = append(all, page...)
			if next == "" {
				return all, nil
			}
			after = next
		}
	}
	out := make([]Failure, 0, len(b.IDs))
	for _, id := range b.IDs {
		k, err := ParseKey(id)
		if err != nil {
			return nil, fmt.Errorf("id %d: %w", len(out), err)
		}
		f, err := s.delivery(ctx, s.Store.DB(), k)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if f.State == delivery.StateFailed {
			out = append(out, f)
		}
	}
	return out, nil
}

// ReplayMany replays every failure a bulk request names, each in its own
// transaction (one that cannot be replayed does not stop the others).
func (s *Service) ReplayMany(ctx context.Context, actor string, b Bulk) (BulkResult, error) {
	fs, err := s.keys(ctx, b)
	if err != nil {
		return BulkResult{}, err
	}
	r := BulkResult{Matched: len(fs), DryRun: b.DryRun}
	for _, f := range fs {
		if b.DryRun {
			if f.Payload == "purged" {
				r.Gone++
			}
			continue
		}
		_, err := s.Replay(ctx, actor, f.key())
		switch {
		case errors.Is(err, ErrGone):
			r.Gone++
		case errors.Is(err, ErrNotFailed), errors.Is(err, ErrNotFound):
			r.Skipped++
		case err != nil:
			return r, err
		default:
			r.Replayed++
		}
	}
	return r, nil
}

// DiscardMany discards every failure a bulk request names.
func (s *Service) DiscardMany(ctx context.Context, actor string, b Bulk) (BulkResult, error) {
	fs, err := s.keys(ctx, b)
	if err != nil {
		return BulkResult{}, err
	}
	r := BulkResult{Matched: len(fs), DryRun: b.DryRun}
	if b.DryRun {
		return r, nil
	}
	for _, f := range fs {
		err := s.Discard(ctx, actor, f.key())
		switch {
		case errors.Is(err, ErrNotFailed), errors.Is(err, ErrNotFound):
			r.Skipped++
		case err != nil:
			return r, err
		default:
			r.Discarded++
		}
	}
	return r, nil
}

// actionRow is the transfer log's row of an admin action on a delivery.
func actionRow(at time.Time, event, actor string, f Failure, detail map[string]any) transferlog.Row {
	if detail == nil {
		detail = map[string]any{}
	}
	detail["entry"] = f.Entry
	return transferlog.Row{At: at, Event: event, TransferID: f.TransferID, Direction: transferlog.Outbound,
		Destination: f.Destination, ResourceType: f.ResourceType, Interaction: f.Interaction,
		SubjectHash: f.auditSubject.String, Outcome: event, Actor: actor, Detail: detail}
}
