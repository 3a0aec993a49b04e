package delivery

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-health/switchboard/hub/store"
)

// Failure is one delivery as the admin API shows it (a failed one, mostly):
// routing facts, error class and code, counts and times. No PHI.
type Failure struct {
	ID           string     `json:"id"`
	TransferID   string     `json:"transfer_id"`
	Entry        int        `json:"entry"`
	Destination  string     `json:"destination"`
	ResourceType string     `json:"resource_type"`
	Interaction  string     `json:"interaction"`
	State        string     `json:"state"`
	ErrorClass   string     `json:"error_class,omitempty"`
	ErrorCode    string     `json:"error_code,omitempty"`
	HTTPStatus   int        `json:"http_status,omitempty"`
	Attempts     int        `json:"attempts"`
	Replays      int        `json:"replays"`
	CreatedAt    time.Time  `json:"created_at"`
	FailedAt     time.Time  `json:"failed_at"`
	Payload      string     `json:"payload"` // kept | purged
	PurgeAfter   *time.Time `json:"purge_after,omitempty"`

	keyGeneration int
	jobID         sql.NullInt64
	auditSubject  sql.NullString
}

// Key names the delivery a failure is.
func (f Failure) Key() Key { return Key{f.TransferID, f.Entry, f.Destination} }

// KeyGeneration is the generation of the vendor idempotency key the
// delivery's last try used (IdempotencyKey).
func (f Failure) KeyGeneration() int { return f.keyGeneration }

// Key names one delivery.
type Key struct {
	TransferID  string
	Entry       int
	Destination string
}

// String is the failure id of the admin API: transfer:entry:destination.
func (k Key) String() string { return k.TransferID + ":" + strconv.Itoa(k.Entry) + ":" + k.Destination }

// ParseKey reads a failure id.
func ParseKey(s string) (Key, error) {
	parts := strings.SplitN(s, ":", 3)
	if len(parts) != 3 || parts[0] == "" || parts[2] == "" {
		return Key{}, errors.New("a failure id is transfer_id:entry:destination")
	}
	e, err := strconv.Atoi(parts[1])
	if err != nil || e < 0 {
		return Key{}, errors.New("a failure id's entry is a whole number")
	}
	return Key{TransferID: parts[0], Entry: e, Destination: parts[2]}, nil
}

// Filter selects failed syncs. Zero fields match everything.
type Filter struct {
	Destination  string
	ErrorClass   string
	ResourceType string
	Since, Until time.Time
}

const failureColumns = `d.transfer_id, d.entry, d.destination, d.resource_type, d.interaction, d.state, d.error_class,
	d.error_code, d.last_status, d.attempts, d.replays, d.created_at, d.updated_at, d.purged_at, d.key_generation, d.job_id, d.audit_subject`

func scanFailure(r store.Row, window time.Duration) (Failure, error) {
	var f Failure
	var class, code sql.NullString
	var status, purged sql.NullInt64
	var created, updated int64
	if err := r.Scan(&f.TransferID, &f.Entry, &f.Destination, &f.ResourceType, &f.Interaction, &f.State, &class, &code,
		&status, &f.Attempts, &f.Replays, &created, &updated, &purged, &f.keyGeneration, &f.jobID, &f.auditSubject); err != nil {
		return f, err
	}
	f.ID = f.Key().String()
	f.ErrorClass, f.ErrorCode, f.HTTPStatus = class.String, code.String, int(status.Int64)
	f.CreatedAt, f.FailedAt = time.UnixMicro(created).UTC(), time.UnixMicro(updated).UTC()
	if purged.Valid {
		f.Payload = "purged"
	} else {
		f.Payload = "kept"
		t := f.FailedAt.Add(window)
		f.PurgeAfter = &t
	}
	return f, nil
}

// ErrBadCursor: a page cursor the list did not hand out.
var ErrBadCursor = errors.New("admin: invalid cursor")

// cursor is the last failure of a page, in the list's order.
type cursor struct {
	updated int64
	key     Key
}

func (c cursor) encode() string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(c.updated, 10) + ":" + c.key.String()))
}

func decodeCursor(s string) (cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return cursor{}, ErrBadCursor
	}
	at, rest, ok := strings.Cut(string(b), ":")
	n, err := strconv.ParseInt(at, 10, 64)
	if !ok || err != nil {
		return cursor{}, ErrBadCursor
	}
	k, err := ParseKey(rest)
	if err != nil {
		return cursor{}, ErrBadCursor
	}
	return cursor{updated: n, key: k}, nil
}

// LaterDelivered reports whether a later delivery about the same patient
// to the same destination has been delivered since k: replaying k would
// write older data over newer.
func LaterDelivered(ctx context.Context, q store.Querier, k Key) (bool, error) {
	var later int
	err := q.QueryRow(ctx, `SELECT COUNT(*) FROM switchboard_delivery me
		JOIN switchboard_delivery d ON d.destination = me.destination AND d.subject_hash = me.subject_hash
		WHERE me.transfer_id = $1 AND me.entry = $2 AND me.destination = $3
		  AND d.state = 'delivered' AND d.created_at > me.created_at`, k.TransferID, k.Entry, k.Destination).Scan(&later)
	if err != nil {
		return false, fmt.Errorf("delivery: look for later deliveries than %s: %w", k, err)
	}
	return later > 0, nil
}

// where renders a filter as SQL conditions on d, numbering from len(args)+1.
func (f Filter) where(args []any) (string, []any) {
	var c []string
	add := func(cond string, v any) {
		args = append(args, v)
		c = append(c, fmt.Sprintf(cond, len(args)))
	}
	if f.Destination != "" {
		add("d.destination = $%d", f.Destination)
	}
	if f.ErrorClass != "" {
		add("d.error_class = $%d", f.ErrorClass)
	}
	if f.ResourceType != "" {
		add("d.resource_type = $%d", f.ResourceType)
	}
	if !f.Since.IsZero() {
		add("d.updated_at >= $%d", f.Since.UnixMicro())
	}
	if !f.Until.IsZero() {
		add("d.updated_at < $%d", f.Until.UnixMicro())
	}
	if len(c) == 0 {
		return "", args
	}
	return " AND " + strings.Join(c, " AND "), args
}

// Failures lists failed syncs, newest first, limit at a time; next is the
// cursor of the following page, "" at the end. window is the replay window
// (Failure.PurgeAfter).
func Failures(ctx context.Context, q store.Querier, f Filter, after string, limit int, window time.Duration) (items []Failure, next string, err error) {
	if limit <= 0 {
		limit = 50
	}
	limit = min(limit, 500)
	where, args := f.where([]any{"failed"})
	if after != "" {
		c, err := decodeCursor(after)
		if err != nil {
			return nil, "", err
		}
		n := len(args)
		// Row values work in both PostgreSQL and SQLite.
		where += fmt.Sprintf(" AND (d.updated_at, d.transfer_id, d.entry, d.destination) < ($%d, $%d, $%d, $%d)", n+1, n+2, n+3, n+4)
		args = append(args, c.updated, c.key.TransferID, c.key.Entry, c.key.Destination)
	}
	args = append(args, limit+1)
	rows, err := q.Query(ctx, `SELECT `+failureColumns+` FROM switchboard_delivery d WHERE d.state = $1`+where+
		fmt.Sprintf(` ORDER BY d.updated_at DESC, d.transfer_id DESC, d.entry DESC, d.destination DESC LIMIT $%d`, len(args)), args...)
	if err != nil {
		return nil, "", fmt.Errorf("delivery: list failures: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		fl, err := scanFailure(rows, window)
		if err != nil {
			return nil, "", fmt.Errorf("delivery: read failure: %w", err)
		}
		items = append(items, fl)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("delivery: list failures: %w", err)
	}
	if len(items) > limit {
		items = items[:limit]
		last := items[limit-1]
		next = cursor{updated: last.FailedAt.UnixMicro(), key: last.Key()}.encode()
	}
	return items, next, nil
}

// ErrNotFound: no delivery with that id (or it is not a failed sync, for
// actions on failures).
var ErrNotFound = errors.New("admin: no such failed sync")

// Get reads one delivery row, failed or not.
func Get(ctx context.Context, q store.Querier, k Key, window time.Duration) (Failure, error) {
	f, err := scanFailure(q.QueryRow(ctx, `SELECT `+failureColumns+` FROM switchboard_delivery d
		WHERE d.transfer_id = $1 AND d.entry = $2 AND d.destination = $3`, k.TransferID, k.Entry, k.Destination), window)
	if store.IsNoRows(err) {
		return f, ErrNotFound
	}
	if err != nil {
		return f, fmt.Errorf("delivery: read delivery %s: %w", k, err)
	}
	return f, nil
}

// FailedSince counts the deliveries to a destination that failed for good
// since a time (failure alerts).
func FailedSince(ctx context.Context, q store.Querier, destination string, since time.Time) (int, error) {
	var n int
	err := q.QueryRow(ctx, `SELECT COUNT(*) FROM switchboard_delivery
		WHERE destination = $1 AND state = 'failed' AND updated_at >= $2`, destination, since.UnixMicro()).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("delivery: count failures at %s: %w", destination, err)
	}
	return n, nil
}
