package admin

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/riverqueue/river/rivertype"

	"github.com/switchboard-health/switchboard/hub/alert"
	"github.com/switchboard-health/switchboard/hub/delivery"
	"github.com/switchboard-health/switchboard/hub/store"
	"github.com/switchboard-health/switchboard/hub/transferlog"
)

// DestinationHealth is one destination at a glance.
type DestinationHealth struct {
	Name    string `json:"name"`
	Type    string `json:"type"`
	Breaker string `json:"breaker"` // closed | half-open | open | unknown
	Paused  bool   `json:"paused"`
	// SuccessRate is delivered tries over all tries in the window; nil
	// when there were none.
	SuccessRate    *float64 `json:"success_rate"`
	Delivered      int      `json:"delivered"`
	Failed         int      `json:"failed"`
	Retrying       int      `json:"retrying"`
	LastErrorClass string   `json:"last_error_class,omitempty"`
	LastErrorAt    string   `json:"last_error_at,omitempty"`
	QueueDepth     int      `json:"queue_depth"`
}

// Health is every destination's health.
type Health struct {
	Window       string              `json:"window"`
	Destinations []DestinationHealth `json:"destinations"`
}

// breakerFresh: a process that has not reported its breakers for this long
// is gone (workers refresh every 30s).
const breakerFresh = alert.StaleAfter

// Health reads breaker states (as worker processes report them), pauses,
// the window's tries by outcome from the transfer log, and queue depths.
func (s *Service) Health(ctx context.Context) (Health, error) {
	now := s.now()
	h := Health{Window: alert.FormatWindow(s.healthWindow())}
	byName := map[string]*DestinationHealth{}
	names := make([]string, 0, len(s.Destinations))
	for n := range s.Destinations {
		names = append(names, n)
	}
	slices.Sort(names)
	h.Destinations = make([]DestinationHealth, len(names))
	for i, n := range names {
		h.Destinations[i] = DestinationHealth{Name: n, Type: s.Destinations[n].Type, Breaker: "unknown"}
		byName[n] = &h.Destinations[i]
	}
	db := s.Store.DB()
	each := func(what, q string, scan func(r interface{ Scan(...any) error }) error, args ...any) error {
		rows, err := db.Query(ctx, q, args...)
		if err != nil {
			return fmt.Errorf("admin: health: %s: %w", what, err)
		}
		defer rows.Close()
		for rows.Next() {
			if err := scan(rows); err != nil {
				return fmt.Errorf("admin: health: %s: %w", what, err)
			}
		}
		return rows.Err()
	}
	rank := map[string]int{"unknown": 0, "closed": 1, "half-open": 2, "open": 3}
	err := each("breakers", `SELECT destination, state FROM switchboard_breaker WHERE updated_at >= $1`, func(r interface{ Scan(...any) error }) error {
		var name, state string
		if err := r.Scan(&name, &state); err != nil {
			return err
		}
		// The worst any live process sees.
		if d := byName[name]; d != nil && rank[state] > rank[d.Breaker] {
			d.Breaker = state
		}
		return nil
	}, now.Add(-breakerFresh).UnixMicro())
	if err != nil {
		return h, err
	}
	err = each("pauses", `SELECT name FROM river_queue WHERE paused_at IS NOT NULL`, func(r interface{ Scan(...any) error }) error {
		var q string
		if err := r.Scan(&q); err != nil {
			return err
		}
		if d := byName[strings.TrimPrefix(q, delivery.QueueName(""))]; d != nil {
			d.Paused = true
		}
		return nil
	})
	if err != nil {
		return h, err
	}
	err = each("tries", `SELECT destination, outcome, COUNT(*) FROM switchboard_log
		WHERE event = $1 AND at >= $2 GROUP BY destination, outcome`, func(r interface{ Scan(...any) error }) error {
		var name string
		var outcome sql.NullString
		var n int
		if err := r.Scan(&name, &outcome, &n); err != nil {
			return err
		}
		d := byName[name]
		if d == nil {
			return nil
		}
		switch outcome.String {
		case delivery.StateDelivered:
			d.Delivered += n
		case delivery.StateFailed:
			d.Failed += n
		case delivery.StateRetrying:
			d.Retrying += n
		}
		return nil
	}, transferlog.EventDeliveryAttempt, now.Add(-s.healthWindow()).UnixMicro())
	if err != nil {
		return h, err
	}
	counts, err := store.QueueCounts(ctx, db, rivertype.JobStateAvailable, rivertype.JobStateScheduled,
		rivertype.JobStateRetryable, rivertype.JobStateRunning, rivertype.JobStatePending)
	if err != nil {
		return h, fmt.Errorf("admin: health: queues: %w", err)
	}
	for _, c := range counts {
		if d := byName[strings.TrimPrefix(c.Queue, delivery.QueueName(""))]; d != nil && strings.HasPrefix(c.Queue, delivery.QueueName("")) {
			d.QueueDepth += c.Jobs
		}
	}
	for i := range h.Destinations {
		d := &h.Destinations[i]
		if total := d.Delivered + d.Failed + d.Retrying; total > 0 {
			r := float64(d.Delivered) / float64(total)
			d.SuccessRate = &r
		}
		var class sql.NullString
		var at int64
		err := db.QueryRow(ctx, `SELECT error_class, at FROM switchboard_log
			WHERE destination = $1 AND event = $2 AND outcome IN ('retrying', 'failed') ORDER BY seq DESC LIMIT 1`,
			d.Name, transferlog.EventDeliveryAttempt).Scan(&class, &at)
		if err == nil {
			d.LastErrorClass = class.String
			d.LastErrorAt = time.UnixMicro(at).UTC().Format(time.RFC3339)
		}
	}
	return h, nil
}

// ErrUnknownDestination names a destination the routing file does not have.
var ErrUnknownDestination = fmt.Errorf("admin: no such destination")

// ErrQueueNotStarted: no worker process has registered the destination's
// queue yet (River pauses only queues it knows), so there is nothing to
// pause; it exists once a worker has started.
var ErrQueueNotStarted = errors.New("admin: no worker has started this destination's queue yet")

// Pause makes a destination's jobs wait (not fail) until Resume, in every
// process: River keeps the pause in its queue table. Workers hear of it at
// once on PostgreSQL (LISTEN/NOTIFY); on SQLite they poll, within 2 s.
func (s *Service) Pause(ctx context.Context, actor, dest string) error {
	return s.pause(ctx, actor, dest, true)
}

// Resume undoes Pause.
func (s *Service) Resume(ctx context.Context, actor, dest string) error {
	return s.pause(ctx, actor, dest, false)
}

func (s *Service) pause(ctx context.Context, actor, dest string, pause bool) error {
	if _, ok := s.Destinations[dest]; !ok {
		return ErrUnknownDestination
	}
	event, do := transferlog.EventResume, s.Store.ResumeQueue
	if pause {
		event, do = transferlog.EventPause, s.Store.PauseQueue
	}
	if err := do(ctx, delivery.QueueName(dest)); errors.Is(err, rivertype.ErrNotFound) {
		return ErrQueueNotStarted
	} else if err != nil {
		return fmt.Errorf("admin: %s %s: %w", event, dest, err)
	}
	return s.Log.Append(ctx, transferlog.Row{At: s.now(), Event: event, Destination: dest, Outcome: event, Actor: actor})
}
