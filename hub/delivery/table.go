package delivery

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"github.com/switchboard-health/switchboard/hub/seal"
	"github.com/switchboard-health/switchboard/hub/store"
	"github.com/switchboard-health/switchboard/hub/transferlog"
)

// Table is the one owner of a delivery's life
// (docs/decisions/0013-delivery-owns-its-life.md): its row in
// switchboard_delivery and its River job, from the accept that inserts
// both to the outcome, the order per subject, the vendor id it keeps, a
// replay, a discard and the purge. Every write to switchboard_delivery is
// in this package; transfer, admin, identity and the alerts call it.
type Table struct {
	Store store.Store
	// Now is the clock (tests); nil is time.Now.
	Now func() time.Time

	batcher *Batcher
}

func (t *Table) now() time.Time {
	if t.Now != nil {
		return t.Now()
	}
	return time.Now()
}

// New is one delivery of an accept: the row's facts and the job's insert.
type New struct {
	Entry        int
	Destination  string
	ResourceType string
	Interaction  string
	// SubjectHash is the keyed hash of the patient's reference for the
	// order per subject, nil when none; AuditSubject the patient's
	// reference as the transfer log keys it, nil when none.
	SubjectHash  any
	AuditSubject any
	// Seq is the entry's place in its transfer's delivery order.
	Seq int
	Job river.InsertManyParams
}

// InsertJobs inserts the River jobs of deliveries in tx and returns their
// ids in order; the rows follow (Insert, or InsertSQL in a statement of
// the caller's).
func InsertJobs(ctx context.Context, tx store.Tx, news []New) ([]int64, error) {
	p := make([]river.InsertManyParams, len(news))
	for i, n := range news {
		p[i] = n.Job
	}
	return tx.InsertJobs(ctx, p)
}

// rowsPerStatement bounds the rows of one INSERT of deliveries. A row
// binds 8 parameters; SQLite allows 32,766 per statement and pgx 65,535,
// and a Bundle under the body limit can fan out to tens of thousands of
// deliveries (issue 14: 1,366 Patients to three destinations failed on
// SQLite with "too many SQL variables"). Small statements are also
// faster: SQLite's cost per statement grows faster than its rows (its
// numbered parameters are looked up in a list), and 10,000 deliveries took
// 9 s in statements of 1,000 rows against 0.7 s in statements of 100
// (PostgreSQL: 2.2 s against 0.3 s).
const rowsPerStatement = 100

// Insert inserts the jobs and rows of a transfer's deliveries in tx, the
// rows in chunks of rowsPerStatement (River inserts the jobs with one
// array or JSON parameter per column, whatever their number).
func Insert(ctx context.Context, tx store.Tx, transferID string, at int64, news []New) error {
	ids, err := InsertJobs(ctx, tx, news)
	if err != nil {
		return err
	}
	for start := 0; start < len(news); start += rowsPerStatement {
		end := min(start+rowsPerStatement, len(news))
		var q strings.Builder
		args := []any{transferID, at}
		for i, n := range news[start:end] {
			if i > 0 {
				q.WriteString(", ")
			}
			k := len(args) + 1
			fmt.Fprintf(&q, "(CAST($%d AS INTEGER), CAST($%d AS TEXT), CAST($%d AS TEXT), CAST($%d AS TEXT), CAST($%d AS BIGINT), CAST($%d AS TEXT), CAST($%d AS INTEGER), CAST($%d AS TEXT))", k, k+1, k+2, k+3, k+4, k+5, k+6, k+7)
			args = append(args, n.Entry, n.Destination, n.ResourceType, n.Interaction, ids[start+i], n.SubjectHash, n.Seq, n.AuditSubject)
		}
		stmt := `INSERT INTO switchboard_delivery (transfer_id, entry, destination, resource_type, interaction, job_id, subject_hash, seq, audit_subject, state, attempts, created_at, updated_at)
		SELECT CAST($1 AS TEXT), v.column1, v.column2, v.column3, v.column4, v.column5, v.column6, v.column7, v.column8, 'queued', 0, CAST($2 AS BIGINT), CAST($2 AS BIGINT) FROM (VALUES ` + q.String() + `) AS v`
		if _, err := tx.Exec(ctx, stmt, args...); err != nil {
			return fmt.Errorf("delivery: insert deliveries %d to %d of %d: %w", start, end, len(news), err)
		}
	}
	return nil
}

// Batch is the deliveries of one transfer in a statement that inserts
// several transfers at once (InsertSQL).
type Batch struct {
	TransferID string
	News       []New
}

// InsertSQL writes into q the part of a data-modifying WITH statement
// that inserts the rows of deliveries whose jobs are ids (InsertJobs, in
// the order of batches), binding its parameters after args. transfers
// names the statement's earlier WITH query of the transfers inserted (with
// columns id and created_at): only the deliveries of those are inserted,
// at their transfer's time. So a group of accepts costs PostgreSQL one
// statement for all its tables.
func InsertSQL(q *strings.Builder, args *[]any, transfers string, batches []Batch, ids []int64) {
	q.WriteString(`INSERT INTO switchboard_delivery (transfer_id, entry, destination, resource_type, interaction, job_id, subject_hash, seq, audit_subject, state, attempts, created_at, updated_at)
	SELECT t.id, v.entry, v.destination, v.resource_type, v.interaction, v.job_id, v.subject_hash, v.seq, v.audit_subject, 'queued', 0, t.created_at, t.created_at
	FROM (VALUES `)
	k := 0
	for _, b := range batches {
		for _, n := range b.News {
			if k > 0 {
				q.WriteString(", ")
			}
			i := len(*args) + 1
			fmt.Fprintf(q, "(CAST($%d AS TEXT), CAST($%d AS INTEGER), CAST($%d AS TEXT), CAST($%d AS TEXT), CAST($%d AS TEXT), CAST($%d AS BIGINT), CAST($%d AS TEXT), CAST($%d AS INTEGER), CAST($%d AS TEXT))", i, i+1, i+2, i+3, i+4, i+5, i+6, i+7, i+8)
			*args = append(*args, b.TransferID, n.Entry, n.Destination, n.ResourceType, n.Interaction, ids[k], n.SubjectHash, n.Seq, n.AuditSubject)
			k++
		}
	}
	q.WriteString(`) AS v(transfer_id, entry, destination, resource_type, interaction, job_id, subject_hash, seq, audit_subject)
	JOIN ` + transfers + ` t ON t.id = v.transfer_id`)
}

// Count is the number of deliveries of a transfer.
func Count(ctx context.Context, q store.Querier, transferID string) (int, error) {
	var n int
	if err := q.QueryRow(ctx, `SELECT COUNT(*) FROM switchboard_delivery WHERE transfer_id = $1`, transferID).Scan(&n); err != nil {
		return 0, fmt.Errorf("delivery: count the deliveries of %s: %w", transferID, err)
	}
	return n, nil
}

// RecordOutcome implements Recorder. With a batcher running, a delivered
// outcome is queued for the next batch (its try count is not needed);
// failures and retries are written at once, since the worker's retry
// decision depends on the count.
func (t *Table) RecordOutcome(ctx context.Context, o Outcome) (int, error) {
	// A vendor id is written at once: a later entry of the transfer may
	// start as soon as this job completes, and needs it.
	if o.State == StateDelivered && t.batcher != nil && o.VendorRef == "" {
		t.batcher.in <- o
		return 0, nil
	}
	inc := 0
	if o.CountTry {
		inc = 1
	}
	var delivered any
	if o.State == StateDelivered {
		delivered = o.At.UnixMicro()
	}
	var status, class, code any
	if o.HTTPStatus != 0 {
		status = o.HTTPStatus
	}
	if o.ErrorClass != "" {
		class = string(o.ErrorClass)
	}
	if o.ErrorCode != "" { // a failure's code, or a skip's reason
		code = o.ErrorCode
	}
	var vendorRef any
	if o.VendorRef != "" {
		vendorRef = o.VendorRef
	}
	var tries, waiter int
	err := t.Store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		var f facts
		var subj sql.NullString
		err := tx.QueryRow(ctx, `UPDATE switchboard_delivery
		SET state = $4, attempts = attempts + $5, last_status = COALESCE($6, last_status),
		    error_class = $7, error_code = $8, updated_at = $9, delivered_at = COALESCE($10, delivered_at),
		    vendor_ref = COALESCE($11, vendor_ref)
		WHERE transfer_id = $1 AND entry = $2 AND destination = $3
		RETURNING attempts, waiter, resource_type, interaction, audit_subject, key_generation`,
			o.TransferID, o.Entry, o.Destination, o.State, inc, status, class, code, o.At.UnixMicro(), delivered, vendorRef).Scan(
			&tries, &waiter, &f.resourceType, &f.interaction, &subj, &f.keyGeneration)
		if err != nil {
			return err
		}
		if !logged(o) {
			return nil
		}
		f.auditSubject = subj.String
		if o.Attempt == 0 {
			o.Attempt = tries
		}
		return transferlog.Stage(ctx, tx, attemptRow(o, f))
	})
	if err != nil {
		return 0, fmt.Errorf("delivery: record outcome for %s entry %s: %w", o.TransferID, strconv.Itoa(o.Entry), err)
	}
	if waiter == 1 && Final(o.State) {
		if err := t.Wake(ctx, o.TransferID, o.Entry, o.Destination); err != nil {
			return tries, err
		}
	}
	return tries, nil
}

// VendorRefs implements Refs: the sealed vendor ids a destination gave the
// entries of a transfer, by entry.
func (t *Table) VendorRefs(ctx context.Context, transferID, destination string) (map[int]seal.Envelope, error) {
	rows, err := t.Store.DB().Query(ctx, `SELECT entry, vendor_ref FROM switchboard_delivery
		WHERE transfer_id = $1 AND destination = $2 AND vendor_ref IS NOT NULL`, transferID, destination)
	if err != nil {
		return nil, fmt.Errorf("delivery: read vendor ids of %s at %s: %w", transferID, destination, err)
	}
	defer rows.Close()
	out := map[int]seal.Envelope{}
	for rows.Next() {
		var entry int
		var raw string
		if err := rows.Scan(&entry, &raw); err != nil {
			return nil, fmt.Errorf("delivery: read vendor ids: %w", err)
		}
		var env seal.Envelope
		if err := json.Unmarshal([]byte(raw), &env); err != nil {
			return nil, fmt.Errorf("delivery: vendor id of %s entry %d is not an envelope", transferID, entry)
		}
		out[entry] = env
	}
	return out, rows.Err()
}

// DeliveryState implements States: one delivery's state and its sealed
// vendor id (nil when none was kept); found is false when the transfer has
// no such delivery. The identity write-back and the gates wait on it.
func (t *Table) DeliveryState(ctx context.Context, transferID string, entry int, destination string) (state string, ref *seal.Envelope, found bool, err error) {
	var raw sql.NullString
	err = t.Store.DB().QueryRow(ctx, `SELECT d.state, d.vendor_ref FROM switchboard_delivery d
		WHERE d.transfer_id = $1 AND d.entry = $2 AND d.destination = $3`, transferID, entry, destination).Scan(&state, &raw)
	if store.IsNoRows(err) {
		return "", nil, false, nil
	}
	if err != nil {
		return "", nil, false, fmt.Errorf("delivery: read delivery %s entry %d at %s: %w", transferID, entry, destination, err)
	}
	if raw.Valid {
		var env seal.Envelope
		if err := json.Unmarshal([]byte(raw.String), &env); err != nil {
			return "", nil, false, fmt.Errorf("delivery: vendor id of %s entry %d is not an envelope", transferID, entry)
		}
		ref = &env
	}
	return state, ref, true, nil
}

// TruncateForBenchmark empties the deliveries and their transfers between
// rounds of the load generator (PostgreSQL), if the tables exist yet.
func TruncateForBenchmark(ctx context.Context, q store.Querier) error {
	_, err := q.Exec(ctx, `DO $$ BEGIN
		IF to_regclass('switchboard_delivery') IS NOT NULL THEN TRUNCATE switchboard_delivery, switchboard_transfer; END IF; END $$`)
	return err
}
