package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strconv"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/switchboard-health/switchboard/connectors"
	"github.com/switchboard-health/switchboard/hub/inbound"
	"github.com/switchboard-health/switchboard/hub/ledger"
	"github.com/switchboard-health/switchboard/hub/store"
	"github.com/switchboard-health/switchboard/hub/transfer"
	"github.com/switchboard-health/switchboard/hub/transferlog"
)

// Kind is the River job kind of a poll.
const Kind = "switchboard.poll"

// Queue is the River queue polls run on.
const Queue = "reconcile"

// Args names the source to poll. Only Source makes a poll unique: a manual
// run while a periodic one is queued or running is the same run.
type Args struct {
	Source string `json:"source" river:"unique"`
	// Manual runs ignore the back-off of a failing source.
	Manual bool `json:"manual,omitempty"`
}

// Kind implements river.JobArgs.
func (Args) Kind() string { return Kind }

// InsertOpts keeps one poll per source queued or running at a time.
func (Args) InsertOpts() river.InsertOpts { return oneAtATime() }

// oneAtATime are the insert options of reconcile jobs: the reconcile
// queue, and unique by their args' `river:"unique"` fields while queued or
// running, so that a manual run inserted meanwhile is the same run.
func oneAtATime() river.InsertOpts {
	return river.InsertOpts{Queue: Queue, MaxAttempts: 3, UniqueOpts: river.UniqueOpts{ByArgs: true,
		ByState: []rivertype.JobState{rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning,
			rivertype.JobStateRetryable, rivertype.JobStateScheduled}}}
}

// Source is a polled destination.
type Source struct {
	Poller   connectors.Poller
	Interval time.Duration
	PageSize int
	Overlap  time.Duration
	// Since is where a source's first poll starts (zero: when it first runs,
	// so connecting a hub does not replay the vendor's history).
	Since time.Time
}

// Appender appends to the transfer log (package transferlog).
type Appender interface {
	Append(ctx context.Context, row transferlog.Row) error
}

// Worker runs polls.
type Worker struct {
	river.WorkerDefaults[Args]
	Store     store.Store
	Sources   map[string]Source
	Ledger    inbound.Ledger
	Transfers inbound.Acceptor
	// Validate checks a polled resource as strictly as a client's (nil
	// skips it).
	Validate func(resourceType string, body []byte) error
	Log      Appender
	// Alerts, when set, is told of a source whose single record is over
	// the answer limit: polling it cannot go on until an admin acts.
	Alerts Alerter
	Logger *slog.Logger
	Now    func() time.Time
	// Budget is DefaultBudget unless set (tests).
	Budget time.Duration
}

// Alerter raises an admin alert (package alert's Notifier).
type Alerter interface {
	ResponseTooLarge(ctx context.Context, source string)
}

// defaultPageSize is what a page is halved from when a source asks for
// the vendor's own page size (Source.PageSize 0): route's default.
const defaultPageSize = 100

// Counts is what one poll of one resource type did; PHI-free.
type Counts struct {
	Pages     int `json:"pages"`
	Seen      int `json:"seen"`
	Routed    int `json:"routed"`
	Replayed  int `json:"replayed"`
	OwnWrites int `json:"own_writes"`
	Unchanged int `json:"unchanged"`
	Stale     int `json:"stale"`
	NoRoute   int `json:"no_route"`
	Invalid   int `json:"invalid"`
}

// maxBackoff caps the wait after repeated failures.
const maxBackoff = time.Hour

// DefaultBudget is how long one poll run goes on taking pages before it
// stops at a page boundary and hands over to its next run (Worker.Budget).
// A run is a job like any other, bounded by the job timeout (the delivery
// try's 15 s, docs/decisions/0011-rescue-window.md) and rescued after it
// when its process dies: so a poll after a downtime, with hundreds of
// changes to route, goes in runs of a few seconds, each recording its own
// counts and cursor, rather than one long run that the timeout cut short
// (it lost its counts and re-read its changes as unchanged).
const DefaultBudget = 5 * time.Second

// Work implements river.Worker.
func (w *Worker) Work(ctx context.Context, job *river.Job[Args]) error {
	a := job.Args
	src, ok := w.Sources[a.Source]
	if !ok {
		return river.JobCancel(fmt.Errorf("no polled source named %q", a.Source))
	}
	log := w.Logger.With("source", a.Source, "job_id", job.ID, "manual", a.Manual)
	budget := w.Budget
	if budget <= 0 {
		budget = DefaultBudget
	}
	deadline := time.Now().Add(budget)
	more := false
	for _, typ := range src.Poller.PollTypes() {
		m, err := w.pollType(ctx, log, a, src, typ, deadline)
		if err != nil {
			return err
		}
		more = more || m
	}
	if more {
		// Pages are left: the next run goes on from the cursors at once
		// (a snooze is not an attempt).
		return river.JobSnooze(0)
	}
	return nil
}

func (w *Worker) now() time.Time {
	if w.Now != nil {
		return w.Now()
	}
	return time.Now()
}

// pollType polls one resource type of a source from its cursor to the end,
// or until deadline has passed at a page boundary: then it reports more.
func (w *Worker) pollType(ctx context.Context, log *slog.Logger, a Args, src Source, typ string, deadline time.Time) (more bool, err error) {
	log = log.With("resource_type", typ)
	cur, found, err := w.cursor(ctx, a.Source, typ)
	if err != nil {
		return false, err
	}
	now := w.now()
	if !found {
		cur = cursor{since: src.Since}
		if cur.since.IsZero() {
			cur.since = now
		}
		if err := w.saveCursor(ctx, a.Source, typ, cur); err != nil {
			return false, err
		}
	}
	if !a.Manual && !cur.nextAt.IsZero() && now.Before(cur.nextAt) {
		log.Debug("source backing off", "until", cur.nextAt)
		return false, nil
	}
	started := now
	var c Counts
	q := connectors.PollQuery{ResourceType: typ, Since: cur.since.Add(-src.Overlap), Count: src.PageSize}
	if !found {
		// The first poll starts at Source.Since itself: the overlap is for
		// changes stamped before ones already taken, and none were.
		q.Since = cur.since
	}
	var perr error
	firstSince, halvings := q.Since, 0
	for {
		page, err := src.Poller.Poll(ctx, q)
		if errors.Is(err, connectors.ErrResponseTooLarge) && q.Count != 1 {
			// A page over the answer limit (a few large records): ask again
			// from the cursor for half as many, down to one. The cursor has
			// moved over every page taken, and a change seen twice is
			// routed once, so starting over loses and doubles nothing.
			n := q.Count
			if n <= 0 {
				n = defaultPageSize
			}
			q.Count, q.Page = max(1, n/2), ""
			if c.Pages > 0 {
				q.Since = cur.since.Add(-src.Overlap)
			} else {
				q.Since = firstSince
			}
			halvings++
			log.Info("poll page over the answer limit; asking for fewer", "page_size", q.Count,
				"limit_bytes", connectors.ResponseLimit(err))
			continue
		}
		if errors.Is(err, connectors.ErrResponseTooLarge) {
			// One record alone is over the limit: no page size helps.
			perr = fmt.Errorf("one %s at %s is larger than the answer limit of %s; raise max_response_bytes of the destination: %w",
				typ, a.Source, connectors.FormatBytes(connectors.ResponseLimit(err)), err)
			if w.Alerts != nil {
				w.Alerts.ResponseTooLarge(ctx, a.Source)
			}
			break
		}
		if err != nil {
			perr = err
			break
		}
		c.Pages++
		next := cur.since
		for _, ch := range page.Changes {
			if err := w.take(ctx, a.Source, ch, &c); err != nil {
				perr = err
				break
			}
			if ch.Updated.After(next) {
				next = ch.Updated
			}
		}
		if perr != nil {
			break
		}
		// The cursor moves after the page's changes are routed: a crash
		// before this line polls the page again, and its changes are
		// recognised rather than doubled.
		cur.since = next
		if err := w.saveCursor(ctx, a.Source, typ, cur); err != nil {
			return false, err
		}
		if page.Next == "" {
			break
		}
		if time.Now().After(deadline) {
			// The run's budget is spent: the next run goes on from the
			// cursor (the page token is not kept; the overlap re-reads a
			// few changes, recognised as taken).
			more = true
			break
		}
		q.Page = page.Next
	}
	row := transferlog.Row{At: w.now(), Event: transferlog.EventPoll, Direction: transferlog.Inbound, Source: a.Source,
		ResourceType: typ, Actor: "reconciler", LatencyMS: w.now().Sub(started).Milliseconds(), Detail: detail(c, a.Manual)}
	if halvings > 0 {
		row.Detail["page_halvings"], row.Detail["page_size"] = halvings, q.Count
	}
	if more {
		row.Detail["more"] = true
	}
	if perr != nil {
		cur.failures++
		cur.nextAt = w.now().Add(backoff(src.Interval, cur.failures))
		cur.lastError = errorCode(perr)
		row.Outcome, row.ErrorClass = "failed", string(connectors.ClassOf(perr))
		row.Detail["error_code"] = cur.lastError
		log.Warn("poll failed; backing off", "error", perr, "failures", cur.failures, "retry_at", cur.nextAt)
	} else {
		cur.failures, cur.nextAt, cur.lastError = 0, time.Time{}, ""
		row.Outcome = "completed"
		log.Info("poll completed", "pages", c.Pages, "seen", c.Seen, "routed", c.Routed)
	}
	cur.polledAt = w.now()
	if err := w.saveCursor(ctx, a.Source, typ, cur); err != nil {
		return false, err
	}
	if w.Log != nil {
		if err := w.Log.Append(ctx, row); err != nil {
			log.Error("transfer log", "error", err)
		}
	}
	if perr != nil && a.Manual {
		return false, river.JobCancel(fmt.Errorf("poll %s %s: %w", a.Source, typ, perr))
	}
	return more, nil
}

// take routes one polled change unless it is the hub's own, unchanged or
// stale.
func (w *Worker) take(ctx context.Context, source string, ch connectors.Change, c *Counts) error {
	c.Seen++
	if ch.Ours {
		c.OwnWrites++
		return nil
	}
	version := ch.Version
	if version == "" {
		version = "t" + strconv.FormatInt(ch.Updated.UnixMicro(), 10)
	}
	res, err := w.router().Route(ctx, inbound.Change{
		Source: source, ClientID: "poll:" + source, IdempotencyKey: ch.ResourceType + "/" + ch.ID + "/_history/" + version,
		Entry:     transfer.Entry{Interaction: connectors.Update, ResourceType: ch.ResourceType, ResourceID: ch.ID, Resource: ch.Resource},
		ChangedAt: ch.Updated, Keys: ledger.Keys(ch.ResourceType, ch.ID, ch.Resource),
	})
	if err != nil {
		return fmt.Errorf("polled change: %w", err)
	}
	// An invalid one is a record the vendor holds that the hub would refuse
	// from a client: routing it would fail at every destination. Counted.
	c.count(res.Outcome)
	return nil
}

// router takes changes in the way webhooks' are (package inbound).
func (w *Worker) router() inbound.Router {
	return inbound.Router{Ledger: w.Ledger, Validate: w.Validate, Transfers: w.Transfers}
}

// count adds an outcome to its counter.
func (c *Counts) count(o inbound.Outcome) {
	switch o {
	case inbound.Routed:
		c.Routed++
	case inbound.Replayed:
		c.Replayed++
	case inbound.NoRoute:
		c.NoRoute++
	case inbound.Invalid:
		c.Invalid++
	case inbound.Unchanged:
		c.Unchanged++
	case inbound.Stale:
		c.Stale++
	}
}

// detail is a run's counts (Counts, DriftCounts) as a transfer-log
// Detail, keyed by the fields' JSON names, so that a counter added to the
// struct is logged without a second list to keep in step.
func detail(counts any, manual bool) map[string]any {
	v := reflect.ValueOf(counts)
	d := make(map[string]any, v.NumField()+1)
	for i := range v.NumField() {
		d[v.Type().Field(i).Tag.Get("json")] = v.Field(i).Interface()
	}
	if manual {
		d["manual"] = true
	}
	return d
}

// backoff doubles the interval per failure, up to maxBackoff.
func backoff(interval time.Duration, failures int) time.Duration {
	if interval <= 0 {
		interval = time.Minute
	}
	// Doubling stops at the cap: a shift by failures could overflow and
	// wrap to a short wait for a long interval.
	d := interval
	for range max(failures, 0) {
		if d >= maxBackoff {
			break
		}
		d *= 2
	}
	return min(d, maxBackoff)
}

// errorCode is a PHI-free code for a poll failure.
func errorCode(err error) string {
	var ce *connectors.Error
	if errors.As(err, &ce) && ce.Code != "" {
		return ce.Code
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timeout"
	}
	return "error"
}

// PeriodicJobs schedules a poll of every source at its interval. River's
// leader alone enqueues periodic jobs, so a cluster polls each source once.
func PeriodicJobs(sources map[string]Source) []*river.PeriodicJob {
	var jobs []*river.PeriodicJob
	for name, s := range sources {
		jobs = append(jobs, river.NewPeriodicJob(river.PeriodicInterval(s.Interval),
			func() (river.JobArgs, *river.InsertOpts) { return Args{Source: name}, nil },
			&river.PeriodicJobOpts{ID: "poll-" + name, RunOnStart: true}))
	}
	return jobs
}
