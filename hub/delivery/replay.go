package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/switchboard-health/switchboard/hub/seal"
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

// sealed is a failed delivery's job as River keeps it.
type sealed struct {
	args        Args
	queue       string
	maxAttempts int
}

// failedJob reads, through River, the job that holds a failed sync's
// sealed payload.
func failedJob(ctx context.Context, tx store.Tx, f Failure) (sealed, error) {
	if f.Payload == "purged" || !f.jobID.Valid {
		return sealed{}, ErrGone
	}
	row, err := tx.Job(ctx, f.jobID.Int64)
	if err != nil {
		return sealed{}, fmt.Errorf("delivery: read job of %s: %w", f.ID, err)
	}
	if row == nil {
		return sealed{}, ErrGone
	}
	j := sealed{queue: row.Queue, maxAttempts: row.MaxAttempts}
	if err := json.Unmarshal(row.EncodedArgs, &j.args); err != nil {
		return sealed{}, fmt.Errorf("delivery: job of %s: args are not a delivery's", f.ID)
	}
	if j.args.TransferID != f.TransferID || j.args.Entry != f.Entry || j.args.Destination != f.Destination {
		return sealed{}, fmt.Errorf("delivery: job of %s belongs to another delivery", f.ID)
	}
	return j, nil
}

// open returns a failed sync's payload (PHI: the caller clears and drops
// it, never logs or returns it).
func open(keys *seal.Keyring, j sealed) (Payload, []byte, error) {
	a := j.args
	pt, err := keys.Open(a.Sealed, AAD(a.TransferID, a.Entry, a.Destination))
	if err != nil {
		// A retired key shredded it: as gone as a purge.
		return Payload{}, nil, ErrGone
	}
	var p Payload
	if err := json.Unmarshal(pt, &p); err != nil {
		clear(pt)
		return Payload{}, nil, fmt.Errorf("delivery: sealed payload of %s is not a delivery payload", a.TransferID)
	}
	return p, pt, nil
}

// OpenFailed returns a failed sync's payload and its plaintext (PHI: the
// caller clears pt and drops both, never logs or returns them), for a
// replay's dry run.
func (t *Table) OpenFailed(ctx context.Context, keys *seal.Keyring, f Failure) (p Payload, pt []byte, err error) {
	err = t.Store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		j, err := failedJob(ctx, tx, f)
		if err != nil {
			return err
		}
		p, pt, err = open(keys, j)
		return err
	})
	return p, pt, err
}

// Replay puts a failed sync back on its destination's queue with the same
// sealed payload, re-sealed under the active key, and returns the
// generation of its vendor idempotency key. When the vendor answered the
// last try (an HTTP status), the key moves to a new generation: a vendor
// that caches results by key (Stripe keeps a failure for 24 hours) would
// otherwise answer the replay with the cached failure. After a timeout the
// key stays, because the vendor may have done the work and the same key is
// what keeps it from doing it twice
// (docs/decisions/0005-delivery-semantics.md). Two admins replaying at once
// replay it once. window is the replay window (for the row read).
func (t *Table) Replay(ctx context.Context, keys *seal.Keyring, actor string, k Key, window time.Duration) (int, error) {
	var gen int
	err := t.Store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		f, err := Get(ctx, tx, k, window)
		if err != nil {
			return err
		}
		if f.State != StateFailed {
			return ErrNotFailed
		}
		j, err := failedJob(ctx, tx, f)
		if err != nil {
			return err
		}
		p, pt, err := open(keys, j)
		if err != nil {
			return err
		}
		clear(pt)
		gen = f.keyGeneration
		if f.HTTPStatus != 0 {
			gen++
		}
		p.KeyGeneration = gen
		body, err := json.Marshal(p)
		if err != nil {
			return fmt.Errorf("delivery: encode payload: %w", err)
		}
		env, err := keys.Seal(body, AAD(k.TransferID, k.Entry, k.Destination))
		clear(body)
		clear(p.Resource)
		if err != nil {
			return fmt.Errorf("delivery: seal: %w", err)
		}
		args := j.args
		args.Sealed = env
		ids, err := tx.InsertJobs(ctx, []river.InsertManyParams{{Args: args,
			InsertOpts: &river.InsertOpts{Queue: j.queue, MaxAttempts: j.maxAttempts}}})
		if err != nil {
			return err
		}
		now := t.now()
		// The guard on state makes a concurrent replay of the same failure
		// a no-op: the loser's transaction rolls back with its job.
		n, err := tx.Exec(ctx, `UPDATE switchboard_delivery SET state = 'queued', job_id = $4, replays = replays + 1,
			key_generation = $5, attempts = 0, error_class = NULL, error_code = NULL, updated_at = $6
			WHERE transfer_id = $1 AND entry = $2 AND destination = $3 AND state = 'failed'`,
			k.TransferID, k.Entry, k.Destination, ids[0], gen, now.UnixMicro())
		if err != nil {
			return fmt.Errorf("delivery: requeue %s: %w", k, err)
		}
		if n == 0 {
			return ErrNotFailed
		}
		// The old job's envelope lives on in the new one; keep one copy.
		if _, err := tx.DeleteJobs(ctx, []int64{f.jobID.Int64}); err != nil {
			return fmt.Errorf("delivery: remove the failed job of %s: %w", k, err)
		}
		return transferlog.Stage(ctx, tx, ActionRow(now, transferlog.EventReplay, actor, f, map[string]any{
			"key_generation": gen, "previous_error_class": f.ErrorClass, "previous_status": f.HTTPStatus}))
	})
	return gen, err
}

// Discard gives up on a failed sync: the row says discarded and the sealed
// payload is deleted at once.
func (t *Table) Discard(ctx context.Context, actor string, k Key, window time.Duration) error {
	return t.Store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		f, err := Get(ctx, tx, k, window)
		if err != nil {
			return err
		}
		now := t.now()
		n, err := tx.Exec(ctx, `UPDATE switchboard_delivery SET state = 'discarded', updated_at = $4,
			purged_at = COALESCE(purged_at, $4)
			WHERE transfer_id = $1 AND entry = $2 AND destination = $3 AND state = 'failed'`,
			k.TransferID, k.Entry, k.Destination, now.UnixMicro())
		if err != nil {
			return fmt.Errorf("delivery: discard %s: %w", k, err)
		}
		if n == 0 {
			return ErrNotFailed
		}
		if f.jobID.Valid {
			if _, err := tx.DeleteJobs(ctx, []int64{f.jobID.Int64}); err != nil {
				return fmt.Errorf("delivery: delete the job of %s: %w", k, err)
			}
		}
		return transferlog.Stage(ctx, tx, ActionRow(now, transferlog.EventDiscard, actor, f, map[string]any{
			"error_class": f.ErrorClass}))
	})
}

// Purge deletes, in tx, the sealed payloads of failed syncs whose last
// change is older than the replay window: their rows say purged, their
// jobs go. It returns the transfer log's rows of what it purged, for the
// caller to stage with the rest of its purge
// (docs/decisions/0002-phi-sealed-in-the-queue.md).
func Purge(ctx context.Context, tx store.Tx, now time.Time, window time.Duration) ([]transferlog.Row, error) {
	rows, err := tx.Query(ctx, `UPDATE switchboard_delivery SET purged_at = $1
		WHERE state = 'failed' AND purged_at IS NULL AND updated_at < $2
		RETURNING transfer_id, entry, destination, resource_type, interaction, audit_subject, job_id`,
		now.UnixMicro(), now.Add(-window).UnixMicro())
	if err != nil {
		return nil, fmt.Errorf("delivery: purge: mark: %w", err)
	}
	var purged []Failure
	for rows.Next() {
		var f Failure
		if err := rows.Scan(&f.TransferID, &f.Entry, &f.Destination, &f.ResourceType, &f.Interaction, &f.auditSubject, &f.jobID); err != nil {
			_ = rows.Close()
			return nil, fmt.Errorf("delivery: purge: %w", err)
		}
		purged = append(purged, f)
	}
	if err := rows.Close(); err != nil {
		return nil, fmt.Errorf("delivery: purge: %w", err)
	}
	var ids []int64
	for _, f := range purged {
		if f.jobID.Valid {
			ids = append(ids, f.jobID.Int64)
		}
	}
	// River reports the jobs it deleted: a marked row whose job is not
	// among them had lost it already (River's cleaner, or an operator).
	present, err := tx.DeleteJobs(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("delivery: purge: delete jobs: %w", err)
	}
	logRows := make([]transferlog.Row, 0, len(purged))
	for _, f := range purged {
		reason := "replay_window_passed"
		if !f.jobID.Valid || !present[f.jobID.Int64] {
			reason = "job_already_removed"
		}
		logRows = append(logRows, ActionRow(now, transferlog.EventPurge, "switchboard", f, map[string]any{
			"reason": reason, "window": window.String()}))
	}
	return logRows, nil
}

// ActionRow is the transfer log's row of an action on a delivery (an
// admin's replay or discard, the purge).
func ActionRow(at time.Time, event, actor string, f Failure, detail map[string]any) transferlog.Row {
	if detail == nil {
		detail = map[string]any{}
	}
	detail["entry"] = f.Entry
	return transferlog.Row{At: at, Event: event, TransferID: f.TransferID, Direction: transferlog.Outbound,
		Destination: f.Destination, ResourceType: f.ResourceType, Interaction: f.Interaction,
		SubjectHash: f.auditSubject.String, Outcome: event, Actor: actor, Detail: detail}
}
