// Package ledger is the hub's memory of what each vendor record it syncs
// looked like the last time the hub saw or wrote it, as keyed hashes only
// (docs/decisions/0007-reconcilers-and-loops.md, no loops; README "No loops,
// and two-way sync").
//
// For every record a change came from, or the hub wrote to, the ledger keeps
// an HMAC of the fields the hub syncs (mappings/fhir.SyncedFields) and the
// vendor time of that state. With it the hub tells:
//
//   - an echo: a change whose fingerprint is the one the hub knows (its own
//     write coming back through a webhook or a poll, or an edit to nothing
//     it syncs) is recorded and dropped;
//   - a stale change: one stamped earlier than the state the hub knows (a
//     webhook delivered late, after a later change on the other side) loses
//     to the later one and is dropped;
//   - a superseded delivery: before a vendor change is written to another
//     vendor, a record there the hub knows to have changed after it is left
//     alone; the later vendor timestamp wins.
//
// A record is known under several keys: "Appointment/{vendor id}" and, for
// each of its identifiers under the hub's systems, "Appointment|system|value",
// so that a change addressed by identifier (a booking uid at the EHR) finds
// the record its vendor id names.
package ledger

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/switchboard-health/switchboard/connectors"
	"github.com/switchboard-health/switchboard/hub/seal"
	"github.com/switchboard-health/switchboard/hub/store"
	fhirjson "github.com/switchboard-health/switchboard/mappings/fhir"
)

// Verdict is what the ledger makes of a change a vendor reported.
type Verdict string

const (
	// Changed: new to the hub, or different from what it knew: route it.
	Changed Verdict = "changed"
	// Unchanged: the fingerprint the hub knows (an echo of its own write,
	// or an edit to fields it does not sync): drop it.
	Unchanged Verdict = "unchanged"
	// Stale: older than the state the hub knows: a later change won.
	Stale Verdict = "stale"
)

// Ledger reads and writes switchboard_sync.
type Ledger struct {
	DB  store.Querier
	MAC seal.MAC
	Now func() time.Time
}

// Keys lists the keys of a record: its vendor id first, then its hub
// identifiers.
func Keys(resourceType, vendorID string, resource []byte) []string {
	var keys []string
	if vendorID != "" {
		keys = append(keys, resourceType+"/"+vendorID)
	}
	for _, id := range fhirjson.Identifiers(resource, connectors.IdentifierSystemPrefix) {
		keys = append(keys, MatchKey(resourceType, id.System+"|"+id.Value))
	}
	return keys
}

// MatchKey is the key of a record addressed by identifier ("system|value").
func MatchKey(resourceType, match string) string { return resourceType + "|" + match }

// Judge says what a change vendor reported about the record keys name is,
// compared with the state the hub knows under the first of keys it knows
// (the vendor id first; then the identifiers, which name the record before
// its vendor id is known: the echo of a write whose answer the hub has not
// yet recorded, see Intend). It writes nothing: the caller routes a
// Changed change and then Records it, so that a crash in between makes the
// change be judged, and routed under the same idempotency key, again rather
// than lost.
func (l *Ledger) Judge(ctx context.Context, vendor string, keys []string, resource []byte, changedAt time.Time) (Verdict, error) {
	if len(keys) == 0 {
		return Changed, nil
	}
	fp, err := l.fingerprint(resource)
	if err != nil {
		return "", err
	}
	hashes := l.keys(vendor, keys)
	marks := make([]string, len(hashes))
	args := make([]any, len(hashes))
	for i, h := range hashes {
		args[i] = h
		marks[i] = fmt.Sprintf("$%d", i+1)
	}
	rows, err := l.DB.Query(ctx, `SELECT record_hash, fingerprint, changed_at FROM switchboard_sync WHERE record_hash IN (`+
		strings.Join(marks, ", ")+`)`, args...)
	if err != nil {
		return "", fmt.Errorf("ledger: read: %w", err)
	}
	type state struct {
		fp string
		at int64
	}
	known := make(map[string]state, len(hashes))
	for rows.Next() {
		var h string
		var s state
		if err := rows.Scan(&h, &s.fp, &s.at); err != nil {
			rows.Close()
			return "", fmt.Errorf("ledger: read: %w", err)
		}
		known[h] = s
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return "", fmt.Errorf("ledger: read: %w", err)
	}
	for _, h := range hashes {
		s, ok := known[h]
		switch {
		case !ok:
			continue
		case s.fp == fp:
			return Unchanged, nil
		case !changedAt.IsZero() && changedAt.UnixMicro() < s.at:
			return Stale, nil
		}
		return Changed, nil
	}
	return Changed, nil
}

// Record remembers that the record keys name at vendor holds resource's
// synced fields as of changedAt (the vendor time of that state; zero, for a
// client's write, counts as now): after the hub wrote it there, or routed a
// change vendor reported.
func (l *Ledger) Record(ctx context.Context, vendor string, keys []string, resource []byte, changedAt time.Time) error {
	if len(keys) == 0 {
		return nil
	}
	fp, err := l.fingerprint(resource)
	if err != nil {
		return err
	}
	return l.put(ctx, vendor, keys, fp, changedAt)
}

// Newer reports whether the hub knows any of keys at vendor to have changed
// after changedAt: a vendor change written there now would undo a later one.
func (l *Ledger) Newer(ctx context.Context, vendor string, keys []string, changedAt time.Time) (bool, error) {
	if changedAt.IsZero() || len(keys) == 0 {
		return false, nil
	}
	hashes := l.keys(vendor, keys)
	marks := make([]string, len(hashes))
	args := []any{changedAt.UnixMicro()}
	for i, h := range hashes {
		args = append(args, h)
		marks[i] = fmt.Sprintf("$%d", len(args))
	}
	var n int
	err := l.DB.QueryRow(ctx, `SELECT count(*) FROM switchboard_sync WHERE changed_at > $1 AND record_hash IN (`+
		strings.Join(marks, ", ")+`)`, args...).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("ledger: read: %w", err)
	}
	return n > 0, nil
}

func (l *Ledger) put(ctx context.Context, vendor string, keys []string, fp string, changedAt time.Time) error {
	now := time.Now()
	if l.Now != nil {
		now = l.Now()
	}
	if changedAt.IsZero() {
		changedAt = now
	}
	// One statement for every key: this runs after each delivery to a
	// vendor that reports changes. A key twice in one INSERT … ON CONFLICT
	// would be an error on PostgreSQL, so the hashes are made unique first.
	hashes := l.keys(vendor, keys)
	rows := make([]string, len(hashes))
	args := []any{fp, changedAt.UnixMicro(), now.UnixMicro()}
	for i, h := range hashes {
		args = append(args, h)
		rows[i] = fmt.Sprintf("($%d, $1, $2, $3)", len(args))
	}
	_, err := l.DB.Exec(ctx, `INSERT INTO switchboard_sync (record_hash, fingerprint, changed_at, updated_at)
		VALUES `+strings.Join(rows, ", ")+`
		ON CONFLICT (record_hash) DO UPDATE SET fingerprint = excluded.fingerprint,
			changed_at = excluded.changed_at, updated_at = excluded.updated_at`, args...)
	if err != nil {
		return fmt.Errorf("ledger: write: %w", err)
	}
	return nil
}

// keys returns the distinct record hashes of keys at vendor.
func (l *Ledger) keys(vendor string, keys []string) []string {
	seen := make(map[string]bool, len(keys))
	var out []string
	for _, k := range keys {
		if h := l.key(vendor, k); !seen[h] {
			seen[h] = true
			out = append(out, h)
		}
	}
	return out
}

func (l *Ledger) key(vendor, k string) string {
	return l.MAC.Sum([]byte("sync-record"), []byte(vendor), []byte(k))
}

func (l *Ledger) fingerprint(resource []byte) (string, error) {
	f, err := fhirjson.SyncedFields(resource, connectors.IdentifierSystemPrefix)
	if err != nil {
		return "", fmt.Errorf("ledger: %w", err)
	}
	defer clear(f)
	return l.MAC.Sum([]byte("sync-fields"), f), nil
}

// Dedup removes repeated keys, keeping the first of each.
func Dedup(keys []string) []string {
	seen := map[string]bool{}
	out := keys[:0]
	for _, k := range keys {
		if k != "" && !seen[k] && !strings.HasSuffix(k, "|") {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}
