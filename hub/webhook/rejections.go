package webhook

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sort"
	"sync"
	"time"

	cwebhook "github.com/switchboard-health/switchboard/connectors/webhook"
	"github.com/switchboard-health/switchboard/hub/transferlog"
)

// Reasons a request to /webhooks/{source} is refused before anything is
// stored, besides the signature codes of connectors/webhook (Rejection.Code).
const (
	// ReasonUnknownSource: no destination of that name takes webhooks.
	ReasonUnknownSource = "unknown_source"
	// ReasonOversize: the body is over the request body limit.
	ReasonOversize = "oversize"
)

// DefaultRejectionInterval is how long Rejections counts before writing.
const DefaultRejectionInterval = time.Minute

// Rejections counts refused webhook requests and writes them to the
// transfer log as one row per source and reason per interval, with the
// count (issue 14 §2). A refused request is unauthenticated: anyone can
// send a thousand a second, and one row each (as before) let them grow the
// database and the audit chain at will. Counting costs a map update under
// a lock; the rows cost one INSERT per (source, reason) per interval,
// whatever the rate.
//
// Run writes every Interval and once more when its context ends, so what
// was counted before a shutdown is still logged. A process that dies
// without a shutdown loses at most one interval's counts; the metric
// (Count) has them too.
type Rejections struct {
	// Log receives the aggregated rows; nil counts for the metric only.
	Log Appender
	// Count, when set, is called for every rejection (the Prometheus
	// counter switchboard_webhook_rejected_total).
	Count func(source, reason string)
	// Interval is how long rows aggregate (default
	// DefaultRejectionInterval).
	Interval time.Duration
	Logger   *slog.Logger
	Now      func() time.Time

	mu     sync.Mutex
	counts map[rejectionKey]*rejectionCount
}

type rejectionKey struct{ source, reason string }

type rejectionCount struct {
	n           int
	first, last time.Time
}

// Add counts one refused request. source is "" when the request named no
// configured source (the path is the caller's, and must not become a label
// or a row of its own).
func (r *Rejections) Add(source, reason string) {
	if r == nil {
		return
	}
	if r.Count != nil {
		r.Count(source, reason)
	}
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.counts == nil {
		r.counts = make(map[rejectionKey]*rejectionCount)
	}
	k := rejectionKey{source, reason}
	c := r.counts[k]
	if c == nil {
		c = &rejectionCount{first: now}
		r.counts[k] = c
	}
	c.n++
	c.last = now
}

// Flush writes one transfer-log row per source and reason counted since
// the last flush, and starts counting afresh. Rows that fail to be written
// are counted again for the next flush rather than lost.
func (r *Rejections) Flush(ctx context.Context) error {
	r.mu.Lock()
	counts := r.counts
	r.counts = nil
	r.mu.Unlock()
	if len(counts) == 0 || r.Log == nil {
		return nil
	}
	keys := make([]rejectionKey, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].source != keys[j].source {
			return keys[i].source < keys[j].source
		}
		return keys[i].reason < keys[j].reason
	})
	var errs []error
	for _, k := range keys {
		c := counts[k]
		actor := "webhook"
		if k.source != "" {
			actor = "webhook:" + k.source
		}
		row := transferlog.Row{At: c.last, Event: transferlog.EventWebhookRejected, Direction: transferlog.Inbound,
			Source: k.source, Outcome: Rejected, HTTPStatus: rejectionStatus(k.reason), Actor: actor,
			Detail: map[string]any{"reason": k.reason, "count": c.n,
				"first_at": c.first.UTC().Format(time.RFC3339Nano), "last_at": c.last.UTC().Format(time.RFC3339Nano)}}
		if err := r.Log.Append(ctx, row); err != nil {
			errs = append(errs, err)
			r.requeue(k, c)
		}
	}
	return errors.Join(errs...)
}

// requeue puts back a count whose row was not written.
func (r *Rejections) requeue(k rejectionKey, c *rejectionCount) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.counts == nil {
		r.counts = make(map[rejectionKey]*rejectionCount)
	}
	if cur := r.counts[k]; cur != nil {
		cur.n += c.n
		cur.first = c.first
		return
	}
	r.counts[k] = c
}

// Run flushes every Interval until ctx ends, then once more (bounded by
// five seconds) so a shutdown keeps what was counted.
func (r *Rejections) Run(ctx context.Context) {
	every := r.Interval
	if every <= 0 {
		every = DefaultRejectionInterval
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			if err := r.Flush(ctx); err != nil {
				r.logger().Error("transfer log: webhook rejections", "error", err)
			}
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			if err := r.Flush(fctx); err != nil {
				r.logger().Error("transfer log: webhook rejections", "error", err)
			}
			cancel()
			return
		}
	}
}

// rejectionStatus is the HTTP status a reason is answered with.
func rejectionStatus(reason string) int {
	switch reason {
	case ReasonUnknownSource:
		return http.StatusNotFound
	case ReasonOversize:
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusUnauthorized
}

// rejectionCode is the reason code of a verifier's error.
func rejectionCode(err error) string {
	var rj *cwebhook.Rejection
	if errors.As(err, &rj) {
		return rj.Code()
	}
	return cwebhook.CodeBadSignature
}

func (r *Rejections) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Rejections) logger() *slog.Logger {
	if r.Logger != nil {
		return r.Logger
	}
	return slog.New(slog.DiscardHandler)
}
