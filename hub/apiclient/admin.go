package apiclient

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// FailureFilter selects failed syncs; zero fields match everything.
type FailureFilter struct {
	Destination  string
	ErrorClass   string
	ResourceType string
	// Since and Until bound the time of failure: Since <= failed_at < Until.
	Since, Until time.Time
}

// IsZero reports whether the filter matches every failed sync.
func (f FailureFilter) IsZero() bool { return f == FailureFilter{} }

func (f FailureFilter) query() query {
	q := query{}
	q.set("destination", f.Destination)
	q.set("error_class", f.ErrorClass)
	q.set("resource_type", f.ResourceType)
	q.set("since", rfc3339(f.Since))
	q.set("until", rfc3339(f.Until))
	return q
}

// MarshalJSON renders the filter as the bulk endpoints read it: times in
// RFC 3339, unset fields left out.
func (f FailureFilter) MarshalJSON() ([]byte, error) {
	m := map[string]string{}
	for k, v := range f.query() {
		m[k] = v[0]
	}
	return json.Marshal(m)
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// Failure is one failed sync: routing facts, the error's class and code,
// counts and times. Never the payload.
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
}

// FailurePage is one page of failures; Next is the cursor of the next page,
// "" on the last.
type FailurePage struct {
	Items []Failure `json:"items"`
	Next  string    `json:"next"`
}

// HistoryEvent is one transfer-log row about a failed sync.
type HistoryEvent struct {
	At         time.Time `json:"at"`
	Event      string    `json:"event"`
	Attempt    int       `json:"attempt,omitempty"`
	Outcome    string    `json:"outcome,omitempty"`
	HTTPStatus int       `json:"http_status,omitempty"`
	ErrorClass string    `json:"error_class,omitempty"`
	Code       string    `json:"code,omitempty"`
	LatencyMS  int64     `json:"latency_ms,omitempty"`
	Actor      string    `json:"actor,omitempty"`
}

// FailureDetail is a failed sync with its history.
type FailureDetail struct {
	Failure
	History []HistoryEvent `json:"history"`
	// LaterDelivered is true when a later delivery about the same patient
	// to the same destination succeeded: a replay would write older data
	// over newer.
	LaterDelivered bool `json:"later_delivered,omitempty"`
}

// Field is one element a replay would send, by name, and whether it
// changes what the destination holds: changed, unchanged, added, removed
// or unknown.
type Field struct {
	Name   string `json:"name"`
	Status string `json:"status"`
}

// ReplayResult is what POST /admin/failures/{id}/replay answers: with
// DryRun, a preview (Operation, Fields, ...); without, Replayed and the
// idempotency key generation the replay uses.
type ReplayResult struct {
	DryRun      bool   `json:"dry_run,omitempty"`
	ID          string `json:"id,omitempty"`
	Destination string `json:"destination,omitempty"`
	Operation   string `json:"operation,omitempty"`
	// Compared says what field statuses are relative to: "destination",
	// "none" (a create) or "unavailable" (statuses are "unknown").
	Compared       string  `json:"compared,omitempty"`
	Fields         []Field `json:"fields,omitempty"`
	LaterDelivered bool    `json:"later_delivered,omitempty"`
	Replayed       int     `json:"replayed"`
	KeyGeneration  int     `json:"key_generation,omitempty"`
}

// BulkRequest is a bulk replay or discard: IDs, or every failed sync a
// Filter matches (a non-nil empty filter matches all of them); not both.
type BulkRequest struct {
	Filter *FailureFilter `json:"filter,omitempty"`
	IDs    []string       `json:"ids,omitempty"`
	DryRun bool           `json:"dry_run"`
}

// BulkResult counts what a bulk action did or, dry, would do. Gone counts
// failures whose payload was purged: they cannot be replayed.
type BulkResult struct {
	Matched   int  `json:"matched"`
	Replayed  int  `json:"replayed"`
	Discarded int  `json:"discarded"`
	Gone      int  `json:"gone"`
	Skipped   int  `json:"skipped,omitempty"`
	DryRun    bool `json:"dry_run"`
}

// DestinationState is a destination's pause switch after Pause or Resume.
type DestinationState struct {
	Destination string `json:"destination"`
	Paused      bool   `json:"paused"`
}

// DestinationHealth is one destination's state and counts over the window.
type DestinationHealth struct {
	Name    string `json:"name"`
	Type    string `json:"type"`
	Breaker string `json:"breaker"` // closed | half-open | open | unknown
	Paused  bool   `json:"paused"`
	// SuccessRate is nil when nothing was tried in the window.
	SuccessRate    *float64 `json:"success_rate"`
	Delivered      int      `json:"delivered"`
	Failed         int      `json:"failed"`
	Retrying       int      `json:"retrying"`
	LastErrorClass string   `json:"last_error_class,omitempty"`
	LastErrorAt    string   `json:"last_error_at,omitempty"`
	QueueDepth     int      `json:"queue_depth"`
}

// Health is GET /admin/health.
type Health struct {
	Window       string              `json:"window"`
	Destinations []DestinationHealth `json:"destinations"`
}

// Failures returns one page of failed syncs, newest first. cursor is ""
// for the first page, then the previous page's Next; limit 0 means the
// hub's default (50).
func (c *Client) Failures(ctx context.Context, f FailureFilter, cursor string, limit int) (*FailurePage, error) {
	q := f.query()
	q.set("cursor", cursor)
	if limit > 0 {
		q.set("limit", strconv.Itoa(limit))
	}
	var p FailurePage
	if err := c.getJSON(ctx, "/admin/failures", url.Values(q), &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// Failure returns one failed sync and its history.
func (c *Client) Failure(ctx context.Context, id string) (*FailureDetail, error) {
	var d FailureDetail
	if err := c.getJSON(ctx, "/admin/failures/"+segment(id), nil, &d); err != nil {
		return nil, err
	}
	return &d, nil
}

// Replay replays one failed sync or, with dryRun, previews what a replay
// would send. A purged payload is a 410 *APIError.
func (c *Client) Replay(ctx context.Context, id string, dryRun bool) (*ReplayResult, error) {
	var q url.Values
	if dryRun {
		q = url.Values{"dry_run": {"true"}}
	}
	var r ReplayResult
	if err := c.call(ctx, http.MethodPost, "/admin/failures/"+segment(id)+"/replay", q, nil, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// ReplayMany replays failed syncs by id or filter.
func (c *Client) ReplayMany(ctx context.Context, b BulkRequest) (*BulkResult, error) {
	var r BulkResult
	if err := c.call(ctx, http.MethodPost, "/admin/replay", nil, b, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// Discard gives up on one failed sync.
func (c *Client) Discard(ctx context.Context, id string) error {
	return c.call(ctx, http.MethodPost, "/admin/failures/"+segment(id)+"/discard", nil, nil, nil)
}

// DiscardMany gives up on failed syncs by id or filter.
func (c *Client) DiscardMany(ctx context.Context, b BulkRequest) (*BulkResult, error) {
	var r BulkResult
	if err := c.call(ctx, http.MethodPost, "/admin/discard", nil, b, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// Pause stops deliveries to a destination; they wait in the queue.
func (c *Client) Pause(ctx context.Context, dest string) (*DestinationState, error) {
	return c.setPause(ctx, dest, "pause")
}

// Resume restarts deliveries to a paused destination.
func (c *Client) Resume(ctx context.Context, dest string) (*DestinationState, error) {
	return c.setPause(ctx, dest, "resume")
}

func (c *Client) setPause(ctx context.Context, dest, action string) (*DestinationState, error) {
	var s DestinationState
	if err := c.call(ctx, http.MethodPost, "/admin/destinations/"+segment(dest)+"/"+action, nil, nil, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// Health returns every destination's breaker, pause switch and counts.
func (c *Client) Health(ctx context.Context) (*Health, error) {
	var h Health
	if err := c.getJSON(ctx, "/admin/health", nil, &h); err != nil {
		return nil, err
	}
	return &h, nil
}
