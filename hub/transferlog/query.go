package transferlog

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Filter selects rows; zero fields select everything.
type Filter struct {
	// From and To bound At, half-open: From <= At < To.
	From, To time.Time
	// Connector matches Source or Destination.
	Connector    string
	Source       string
	Destination  string
	ResourceType string
	Outcome      string
	Event        string
	Actor        string
	TransferID   string
	SubjectHash  string
	// PayloadDigest is Digest of a resource; it selects the deliveries that
	// carried that content.
	PayloadDigest string
	// After selects rows with a larger seq (a cursor).
	After int64
}

// where renders f as a WHERE clause with $n placeholders, from $1; values
// are only ever bound, never written into the SQL.
func (f Filter) where() (string, []any) {
	var conds []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		conds = append(conds, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args))))
	}
	add("seq > ?", f.After)
	if !f.From.IsZero() {
		add("at >= ?", f.From.UnixMicro())
	}
	if !f.To.IsZero() {
		add("at < ?", f.To.UnixMicro())
	}
	for _, eq := range []struct{ col, v string }{
		{"source", f.Source}, {"destination", f.Destination}, {"resource_type", f.ResourceType},
		{"outcome", f.Outcome}, {"event", f.Event}, {"actor", f.Actor}, {"transfer_id", f.TransferID},
		{"subject_hash", f.SubjectHash}, {"payload_digest", f.PayloadDigest},
	} {
		if eq.v != "" {
			add(eq.col+" = ?", eq.v)
		}
	}
	if f.Connector != "" {
		add("(source = ? OR destination = ?)", f.Connector)
	}
	return strings.Join(conds, " AND "), args
}

// Query returns up to limit rows matching f, in ascending seq from
// f.After; a limit below 1 means 100. Page on with After set to the last
// row's Seq.
func (l *Log) Query(ctx context.Context, f Filter, limit int) ([]Row, error) {
	if limit < 1 {
		limit = 100
	}
	where, args := f.where()
	args = append(args, limit)
	rs, err := l.Store.DB().Query(ctx, `SELECT `+logColumns+` FROM switchboard_log WHERE `+where+
		` ORDER BY seq LIMIT $`+strconv.Itoa(len(args)), args...)
	if err != nil {
		return nil, fmt.Errorf("transfer log: query: %w", err)
	}
	defer rs.Close()
	out := []Row{}
	for rs.Next() {
		var s scanned
		if err := rs.Scan(s.logDest()...); err != nil {
			return nil, fmt.Errorf("transfer log: query: scan: %w", err)
		}
		r, err := s.fullRow()
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("transfer log: query: %w", err)
	}
	return out, nil
}

// eachPage is how many rows Each reads per query.
const eachPage = 1000

// Each calls fn for every row matching f, in ascending seq, and stops at
// fn's first error, which it returns. It reads a page of rows at a time
// (keyset on seq, so every page is an index range) and calls fn between
// reads, not during one: memory stays constant however many rows match,
// and a slow fn (a client downloading an export) never holds a database
// connection, which on SQLite is the hub's only one.
func (l *Log) Each(ctx context.Context, f Filter, fn func(Row) error) error {
	for {
		page, err := l.Query(ctx, f, eachPage)
		if err != nil {
			return err
		}
		for _, r := range page {
			if err := fn(r); err != nil {
				return err
			}
		}
		if len(page) < eachPage {
			return nil
		}
		f.After = page[len(page)-1].Seq
	}
}
