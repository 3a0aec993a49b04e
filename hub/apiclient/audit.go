package apiclient

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// LogFilter selects transfer-log rows; zero fields match everything.
type LogFilter struct {
	// From and To bound the row's time: From <= at < To.
	From, To time.Time
	// Connector matches a row whose source or destination it is.
	Connector, Destination, Source string
	ResourceType, Outcome, Event   string
	Actor, TransferID              string
	// Subject is a reference such as Patient/123. The hub HMACs it before
	// it reaches a query or a log; it is sent over the (TLS) connection
	// only.
	Subject string
	// After selects rows with a greater seq.
	After int64
}

func (f LogFilter) query() query {
	q := query{}
	q.set("from", rfc3339(f.From))
	q.set("to", rfc3339(f.To))
	q.set("connector", f.Connector)
	q.set("destination", f.Destination)
	q.set("source", f.Source)
	q.set("resource_type", f.ResourceType)
	q.set("outcome", f.Outcome)
	q.set("event", f.Event)
	q.set("actor", f.Actor)
	q.set("transfer_id", f.TransferID)
	q.set("subject", f.Subject)
	if f.After > 0 {
		q.set("after", strconv.FormatInt(f.After, 10))
	}
	return q
}

// Row is one transfer-log row. It holds no PHI: the subject is a keyed
// hash and the payload a keyed digest.
type Row struct {
	Seq           int64          `json:"seq"`
	At            time.Time      `json:"at"`
	Event         string         `json:"event"`
	TransferID    string         `json:"transfer_id,omitempty"`
	Direction     string         `json:"direction,omitempty"`
	Source        string         `json:"source,omitempty"`
	Destination   string         `json:"destination,omitempty"`
	ResourceType  string         `json:"resource_type,omitempty"`
	Interaction   string         `json:"interaction,omitempty"`
	SubjectHash   string         `json:"subject_hash,omitempty"`
	Outcome       string         `json:"outcome,omitempty"`
	HTTPStatus    int            `json:"http_status,omitempty"`
	Attempt       int            `json:"attempt,omitempty"`
	LatencyMS     int64          `json:"latency_ms,omitempty"`
	ErrorClass    string         `json:"error_class,omitempty"`
	Actor         string         `json:"actor,omitempty"`
	PayloadDigest string         `json:"payload_digest,omitempty"`
	Detail        map[string]any `json:"detail,omitempty"`
	PrevHash      string         `json:"prev_hash"`
	Hash          string         `json:"hash"`
}

// LogPage is one page of rows in ascending seq; Next is "" on the last.
type LogPage struct {
	Items []Row  `json:"items"`
	Next  string `json:"next"`
}

// Checkpoint is a row's seq and hash noted earlier: a log rewritten since
// (even by someone holding the hub's key) no longer verifies against it.
type Checkpoint struct {
	Seq  int64  `json:"seq"`
	Hash string `json:"hash"`
}

// Break is the first row where the chain does not hold, and why.
type Break struct {
	Seq    int64  `json:"seq"`
	Reason string `json:"reason"`
}

// VerifyReport is GET /audit/verify. Head is the chain's head (Seq 0 when
// the log is empty); Pending counts rows staged but not chained yet.
type VerifyReport struct {
	OK      bool       `json:"ok"`
	Rows    int64      `json:"rows"`
	Pending int64      `json:"pending"`
	Head    Checkpoint `json:"head"`
	Break   *Break     `json:"break,omitempty"`
}

// DigestResult is POST /audit/digest: the document's keyed digest and the
// delivery rows that carried the same content.
type DigestResult struct {
	Digest  string `json:"digest"`
	Matches []Row  `json:"matches"`
}

// Log returns one page of rows. cursor is "" for the first page, then the
// previous page's Next; limit 0 means the hub's default (100, at most 1000).
func (c *Client) Log(ctx context.Context, f LogFilter, cursor string, limit int) (*LogPage, error) {
	q := f.query()
	q.set("cursor", cursor)
	if limit > 0 {
		q.set("limit", strconv.Itoa(limit))
	}
	var p LogPage
	if err := c.getJSON(ctx, "/audit/log", url.Values(q), &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// Export streams every matching row to w as format ("ndjson", the default
// when "", or "csv") and returns the bytes written. It copies as it reads,
// in constant memory however large the log.
//
// The hub has sent its 200 before the first row, so an export it cuts short
// can only end early; compare the row count with Log or Verify when that
// matters.
func (c *Client) Export(ctx context.Context, f LogFilter, format string, w io.Writer) (int64, error) {
	q := f.query()
	q.set("format", format)
	res, err := c.do(ctx, http.MethodGet, "/audit/export", url.Values(q), nil, "")
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	n, err := io.Copy(w, res.Body)
	if err != nil {
		return n, fmt.Errorf("GET /audit/export: after %d bytes: %w", n, err)
	}
	return n, nil
}

// Verify walks the hash chain on the hub, against cp when non-nil. A
// broken chain is a report with OK false, not an error.
func (c *Client) Verify(ctx context.Context, cp *Checkpoint) (*VerifyReport, error) {
	var q url.Values
	if cp != nil {
		q = url.Values{"checkpoint_seq": {strconv.FormatInt(cp.Seq, 10)}, "checkpoint_hash": {cp.Hash}}
	}
	var r VerifyReport
	if err := c.getJSON(ctx, "/audit/verify", q, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// Digest posts a FHIR resource document (at most 1 MiB) and returns its
// keyed digest and the deliveries that carried it. The hub hashes the
// document and drops it.
func (c *Client) Digest(ctx context.Context, doc []byte) (*DigestResult, error) {
	res, err := c.do(ctx, http.MethodPost, "/audit/digest", nil, bytes.NewReader(doc), "application/fhir+json")
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	var r DigestResult
	if err := decode(res, "POST /audit/digest", &r); err != nil {
		return nil, err
	}
	return &r, nil
}
