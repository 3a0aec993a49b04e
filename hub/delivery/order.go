package delivery

import (
	"context"
	"fmt"
	"time"

	"github.com/switchboard-health/switchboard/hub/store"
)

// Order per subject: changes about one patient reach a destination in the
// order they were accepted. A delivery with an earlier unfinished one
// about the same patient to the same destination waits (Blocked), and the
// one it waits for wakes it when it finishes (Wake).

// earlierUnfinished and laterUnfinished compare deliveries by the order
// they were accepted: time, then transfer id, then the entry's place in its
// transfer's delivery order (seq: referenced entries first, see
// deliveryOrder). A delivery is
// unfinished while neither its row nor its River job says it is done (rows
// of delivered outcomes are written in batches a moment after the job
// completes; the job's state is read too so that no batch is waited for).
const (
	sameSubject = `FROM switchboard_delivery me
		JOIN switchboard_delivery d ON d.destination = me.destination AND d.subject_hash = me.subject_hash
		JOIN river_job j ON j.id = d.job_id
		WHERE me.transfer_id = $1 AND me.entry = $2 AND me.destination = $3
		  AND d.state NOT IN ('delivered', 'failed', 'skipped', 'discarded')
		  AND j.state NOT IN ('completed', 'cancelled', 'discarded')`
	earlier = ` AND (d.created_at < me.created_at
		       OR (d.created_at = me.created_at AND (d.transfer_id < me.transfer_id
		           OR (d.transfer_id = me.transfer_id AND d.seq < me.seq))))
		ORDER BY d.created_at, d.transfer_id, d.seq LIMIT 1`
	later = ` AND (d.created_at > me.created_at
		       OR (d.created_at = me.created_at AND (d.transfer_id > me.transfer_id
		           OR (d.transfer_id = me.transfer_id AND d.seq > me.seq))))
		ORDER BY d.created_at, d.transfer_id, d.seq LIMIT 1`
)

// Blocked implements Orderer: it reports whether an earlier
// delivery to the same destination about the same patient is unfinished,
// and marks that one as having a waiter, so that finishing it wakes this
// one (Wake) rather than leaving it to its next poll.
func (t *Table) Blocked(ctx context.Context, transferID string, entry int, destination string) (bool, error) {
	// A blocker can finish between the look-up and the mark; then look
	// again for the next earlier one (a few rounds at most in practice).
	for range 8 {
		rows, err := t.Store.DB().Query(ctx, `SELECT d.transfer_id, d.entry `+sameSubject+earlier, transferID, entry, destination)
		if err != nil {
			return false, fmt.Errorf("delivery: check earlier deliveries for %s entry %d: %w", transferID, entry, err)
		}
		var tid string
		var e int
		found := rows.Next()
		if found {
			err = rows.Scan(&tid, &e)
		}
		if cerr := rows.Close(); err == nil {
			err = cerr
		}
		if err != nil || !found {
			return false, err
		}
		// Only an unfinished row takes the mark: a row recorded as done
		// since the look-up wakes nobody.
		n, err := t.Store.DB().Exec(ctx, `UPDATE switchboard_delivery SET waiter = 1
			WHERE transfer_id = $1 AND entry = $2 AND destination = $3 AND state NOT IN ('delivered', 'failed', 'skipped', 'discarded')`, tid, e, destination)
		if err != nil {
			return true, fmt.Errorf("delivery: mark a waiter on %s entry %d: %w", tid, e, err)
		}
		if n > 0 {
			return true, nil
		}
	}
	return true, nil // still racing: wait for the fallback poll
}

// Wake makes the next delivery waiting behind a finished one (same
// destination, same patient) runnable now. Errors are logged by callers:
// the waiting job polls anyway.
func (t *Table) Wake(ctx context.Context, transferID string, entry int, destination string) error {
	// The one waiting may show as running for a moment after it asked to
	// be snoozed: River records the snooze asynchronously. Look again
	// briefly until it is snoozed (then wake it) or moving anyway.
	for try := 0; ; try++ {
		var tid, state string
		var e int
		var jobID int64
		err := t.Store.DB().QueryRow(ctx, `SELECT d.transfer_id, d.entry, j.id, j.state `+sameSubject+later,
			transferID, entry, destination).Scan(&tid, &e, &jobID, &state)
		if store.IsNoRows(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("delivery: find the delivery waiting behind %s entry %d: %w", transferID, entry, err)
		}
		if try == 0 {
			// Pass the mark along: others may wait behind this one too
			// (they marked the delivery that just finished).
			if _, err := t.Store.DB().Exec(ctx, `UPDATE switchboard_delivery SET waiter = 1
				WHERE transfer_id = $1 AND entry = $2 AND destination = $3`, tid, e, destination); err != nil {
				return fmt.Errorf("delivery: pass the waiter mark to %s entry %d: %w", tid, e, err)
			}
		}
		switch {
		case state == "scheduled" || state == "available":
			// River records a snooze shorter than its scheduler's interval
			// (every order wait, orderWaitMax) as 'available' but due
			// later, longer ones as 'scheduled'. JobRetry makes either due
			// now, and leaves a job that is due already alone.
			if err := t.Store.JobRetry(ctx, jobID); err != nil {
				return fmt.Errorf("delivery: wake job %d: %w", jobID, err)
			}
			return nil
		case state != "running" || try == wakeTries:
			return nil // moving already, or left to its own poll
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wakePause):
		}
	}
}

// How long Wake looks again for a waiting delivery whose snooze River has
// not recorded yet.
const (
	wakeTries = 10
	wakePause = 15 * time.Millisecond
)
