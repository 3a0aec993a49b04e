package transfer

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/switchboard-health/switchboard/hub/delivery"
	"github.com/switchboard-health/switchboard/hub/store"
)

// Group commit. On PostgreSQL an accept is bound by round trips and by the
// commit's WAL flush, not by CPU (BENCHMARKS.md): four round trips and one
// fsync for a few hundred bytes. Accepts that arrive while a commit is in
// flight wait for it and then go together in the next transaction, so under
// load N accepts cost one commit instead of N. Nothing is answered before its
// transaction commits, so a 202 still means durable. With one accept at a
// time a group is just that accept: no timer, no added latency.
//
// The leader/follower hand-off needs no goroutine of its own: an accept that
// finds fewer than groupLeaders commits in flight commits its group at once;
// otherwise it queues, and a leader that finishes hands the lead to the first
// accept queued. Each accept leads at most once, so none waits longer than a
// commit in flight plus its own group's. Several groups in flight keep every
// core of the database busy: one at a time left PostgreSQL idle between the
// round trips of the single group.
const (
	// groupMaxJobs bounds one group's statement: pgx allows 65,535
	// parameters, and a delivery row takes 9. An accept with more jobs
	// than this commits alone, its deliveries in chunks (acceptAlone).
	groupMaxJobs = 2000
	// groupTimeout bounds one group's transaction when its accepts have no
	// deadline of their own. The leader's context is not used as such: its
	// client hanging up must not fail the others.
	groupTimeout = 30 * time.Second
	// groupLeaders is how many groups may commit at once.
	groupLeaders = 4
)

// pendingAccept is one accept waiting for its group.
type pendingAccept struct {
	row  transferRow
	jobs []delivery.New
	// deadline is the accept's own (its request's database wait), or
	// groupTimeout from its submission: its group's transaction ends by
	// the earliest deadline among its accepts, so that a database that
	// hangs (a network partition) is answered with an error in time
	// rather than after groupTimeout.
	deadline time.Time
	done     chan groupResult
	res      groupResult
}

// groupResult is an accept's outcome, or, with lead set, the group its
// receiver is to commit (the receiver among it).
type groupResult struct {
	err    error
	replay bool
	lead   []*pendingAccept
}

// groupCommit gathers concurrent accepts into shared transactions. Accepts
// queue only while groupLeaders groups are in flight, so pending is empty
// whenever leaders < groupLeaders.
type groupCommit struct {
	mu      sync.Mutex
	pending []*pendingAccept
	leaders int // groups being committed
}

// submit commits p, alone or with the accepts queued beside it, and reports
// whether its transfer was inserted or its Idempotency-Key was already known.
func (g *groupCommit) submit(ctx context.Context, st store.Store, p *pendingAccept) groupResult {
	p.done = make(chan groupResult, 1)
	p.deadline = time.Now().Add(groupTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(p.deadline) {
		p.deadline = d
	}
	var group []*pendingAccept
	g.mu.Lock()
	if g.leaders < groupLeaders {
		g.leaders++
		g.mu.Unlock()
		group = []*pendingAccept{p}
	} else {
		g.pending = append(g.pending, p)
		g.mu.Unlock()
		var r groupResult
		select {
		case r = <-p.done:
		case <-ctx.Done():
			// Still queued: leave the queue, nothing was written. Otherwise
			// the accept is inside a group being committed, or is being
			// handed the lead, and must not vanish: wait, the group's
			// transaction ends by this accept's deadline too.
			if g.withdraw(p) {
				return groupResult{err: fmt.Errorf("transfer: wait for a database transaction: %w", ctx.Err())}
			}
			r = <-p.done
		}
		if r.lead == nil {
			return r
		}
		group = r.lead
	}

	commitGroup(context.WithoutCancel(ctx), st, group)
	for _, q := range group {
		if q != p {
			q.done <- q.res
		}
	}

	// Hand the lead to the first accept queued, with the group it commits
	// taken from the queue now, so no accept is in two groups.
	g.mu.Lock()
	if len(g.pending) == 0 {
		g.leaders--
		g.mu.Unlock()
		return p.res
	}
	next, n := g.pending, 0
	for i, q := range next {
		n += len(q.jobs)
		if i > 0 && n > groupMaxJobs {
			next = next[:i]
			break
		}
	}
	g.pending = g.pending[len(next):]
	g.mu.Unlock()
	next[0].done <- groupResult{lead: next}
	return p.res
}

// withdraw takes p out of the queue, reporting whether it was still there.
func (g *groupCommit) withdraw(p *pendingAccept) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	i := slices.Index(g.pending, p)
	if i < 0 {
		return false
	}
	g.pending = slices.Delete(g.pending, i, i+1)
	return true
}

func commitGroup(ctx context.Context, st store.Store, group []*pendingAccept) {
	deadline := group[0].deadline
	for _, p := range group[1:] {
		if p.deadline.Before(deadline) {
			deadline = p.deadline
		}
	}
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	replays, err := commitPostgres(ctx, st, group)
	if err != nil && len(group) > 1 {
		for _, p := range group {
			commitGroup(ctx, st, []*pendingAccept{p})
		}
		return
	}
	for _, p := range group {
		p.res = groupResult{err: err, replay: replays[p.row.id]}
	}
}

// commitPostgres writes a group in four round trips, whatever its size:
// BEGIN; River's insert of every job; one statement that inserts the
// transfers (skipping known Idempotency-Keys) and the deliveries of those
// inserted; COMMIT. The jobs of a replayed key are deleted before the commit,
// so no worker ever sees them; replays are rare, so that costs a round trip
// only when there is one.
func commitPostgres(ctx context.Context, st store.Store, group []*pendingAccept) (map[string]bool, error) {
	var replays map[string]bool
	err := st.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		replays = nil
		var all []delivery.New
		batches := make([]delivery.Batch, len(group))
		for i, p := range group {
			all = append(all, p.jobs...)
			batches[i] = delivery.Batch{TransferID: p.row.id, News: p.jobs}
		}
		ids, err := delivery.InsertJobs(ctx, tx, all)
		if err != nil {
			return err
		}

		var q strings.Builder
		args := make([]any, 0, 20*len(group)+9*len(all))
		q.WriteString(`WITH t AS (INSERT INTO switchboard_transfer
	(id, client_id, idempotency_hash, request_hash, kind, resource_type, interaction, entry_count, created_at) VALUES `)
		for i, p := range group {
			if i > 0 {
				q.WriteString(", ")
			}
			n := len(args) + 1
			fmt.Fprintf(&q, "($%d, $%d, $%d, $%d, $%d, $%d, $%d, CAST($%d AS INTEGER), CAST($%d AS BIGINT))", n, n+1, n+2, n+3, n+4, n+5, n+6, n+7, n+8)
			args = append(args, p.row.args()...)
		}
		q.WriteString(` ON CONFLICT (client_id, idempotency_hash) WHERE idempotency_hash IS NOT NULL DO NOTHING RETURNING id, created_at),
	d AS (`)
		// The deliveries' part of the statement is package delivery's.
		delivery.InsertSQL(&q, &args, "t", batches, ids)
		q.WriteString(`),
	l AS (INSERT INTO switchboard_log_queue (at, event, transfer_id, direction, source, destination, resource_type,
	  interaction, subject_hash, outcome, actor, detail)
	SELECT t.created_at, a.event, t.id, a.direction, a.source, a.destination, a.resource_type, a.interaction,
	  a.subject_hash, a.outcome, a.actor, a.detail
	FROM (VALUES `)
		// Each inserted transfer's "accepted" row in the same statement:
		// the transfer log costs the accept no extra round trip.
		for i, p := range group {
			if i > 0 {
				q.WriteString(", ")
			}
			r := p.row.log
			detail, err := json.Marshal(r.Detail)
			if err != nil {
				return fmt.Errorf("transfer: log detail: %w", err)
			}
			n := len(args) + 1
			fmt.Fprintf(&q, "(CAST($%d AS TEXT), CAST($%d AS TEXT), CAST($%d AS TEXT), CAST($%d AS TEXT), CAST($%d AS TEXT), CAST($%d AS TEXT), CAST($%d AS TEXT), CAST($%d AS TEXT), CAST($%d AS TEXT), CAST($%d AS TEXT), CAST($%d AS TEXT))",
				n, n+1, n+2, n+3, n+4, n+5, n+6, n+7, n+8, n+9, n+10)
			args = append(args, p.row.id, r.Event, r.Direction, store.Null(r.Source), store.Null(r.Destination), store.Null(r.ResourceType),
				store.Null(r.Interaction), store.Null(r.SubjectHash), store.Null(r.Outcome), store.Null(r.Actor), string(detail))
		}
		q.WriteString(`) AS a(transfer_id, event, direction, source, destination, resource_type, interaction, subject_hash, outcome, actor, detail)
	JOIN t ON t.id = a.transfer_id)
	SELECT id FROM t`)

		rows, err := tx.Query(ctx, q.String(), args...)
		if err != nil {
			return fmt.Errorf("transfer: insert transfers and deliveries: %w", err)
		}
		inserted := make(map[string]bool, len(group))
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				_ = rows.Close()
				return fmt.Errorf("transfer: read inserted transfers: %w", err)
			}
			inserted[id] = true
		}
		if err := rows.Close(); err != nil {
			return fmt.Errorf("transfer: insert transfers and deliveries: %w", err)
		}
		if len(inserted) == len(group) {
			return nil
		}
		replays = make(map[string]bool)
		var drop []int64
		k := 0
		for _, p := range group {
			if !inserted[p.row.id] {
				replays[p.row.id] = true
				drop = append(drop, ids[k:k+len(p.jobs)]...)
			}
			k += len(p.jobs)
		}
		_, err = tx.DeleteJobs(ctx, drop)
		return err
	})
	return replays, err
}
