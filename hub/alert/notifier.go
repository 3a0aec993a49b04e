package alert

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/riverqueue/river"

	"github.com/switchboard-health/switchboard/connectors"
	"github.com/switchboard-health/switchboard/hub/delivery"
	"github.com/switchboard-health/switchboard/hub/route"
	"github.com/switchboard-health/switchboard/hub/store"
)

// Timings of the Notifier.
const (
	// BreakerAlertPeriod is the de-duplication period of breaker alerts:
	// a breaker that flaps, or opens in every worker process, alerts once
	// per destination in it.
	BreakerAlertPeriod = 5 * time.Minute
	// WorkTimeout bounds the database work of one call: a breaker
	// change's table write and alert insert, a failure's count and insert.
	// Alerting must not hold a delivery worker behind a slow database.
	WorkTimeout = 5 * time.Second
	// HeartbeatEvery is the longest the server should wait between calls
	// of Heartbeat (well inside StaleAfter).
	HeartbeatEvery = 30 * time.Second
	// StaleAfter is how old a switchboard_breaker row's updated_at may be
	// before the row is taken for a process that stopped: the health view
	// ignores such rows and Heartbeat deletes them.
	StaleAfter = 5 * time.Minute
)

// Notifier decides when a destination deserves an alert and enqueues it,
// and publishes this process's circuit breaker states to
// switchboard_breaker. It implements connectors.BreakerObserver. Use it
// through a pointer; its exported fields are set once, before use.
//
// A nil Config (no `alerts:` block) still publishes breaker states, and
// alerts on nothing.
type Notifier struct {
	// DB runs the queries (the store's DB(), outside any transaction).
	DB store.Querier
	// Insert enqueues a job, in a transaction of its own (StoreInserter).
	// It may be nil when Config is.
	Insert func(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) error
	// Config is the routing file's alerts block, already validated
	// (route.Table.Alerts); nil for none.
	Config *route.Alerts
	// Process names this process in switchboard_breaker (host name and
	// pid): each worker process has breakers of its own.
	Process string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives the failures of background work; nil discards.
	Logger *slog.Logger

	// pending counts the breaker changes being written, for Wait.
	pending sync.WaitGroup
}

// A Notifier is what connectors are given to report breaker changes.
var _ connectors.BreakerObserver = (*Notifier)(nil)

// DeliveryFailed is called after a delivery to destination failed for good
// and that was committed (on SQLite, whose one connection the delivery's
// transaction holds, a call from inside the transaction would wait for
// itself). It counts the destination's permanent failures in the window
// and, from the threshold on, enqueues a TypeFailures alert; the alert is
// unique per destination and window period, so the failures after the
// threshold's add nothing. Its own failures are logged: an alert must
// never fail a delivery.
func (n *Notifier) DeliveryFailed(ctx context.Context, destination string) {
	ctx, cancel := context.WithTimeout(ctx, WorkTimeout)
	defer cancel()
	if err := n.deliveryFailed(ctx, destination); err != nil {
		n.logger().Warn("alert: failure alert not checked", "destination", destination, "error", err)
	}
}

func (n *Notifier) deliveryFailed(ctx context.Context, destination string) error {
	if n.Config == nil || n.Config.URL == "" {
		return nil
	}
	f := n.Config.Failures
	if f == nil || f.Threshold < 1 || f.Window <= 0 {
		return nil
	}
	now := n.now()
	count, err := delivery.FailedSince(ctx, n.DB, destination, now.Add(-f.Window))
	if err != nil {
		return fmt.Errorf("alert: count failures of destination %q: %w", destination, err)
	}
	if count < f.Threshold {
		return nil
	}
	return n.enqueue(ctx, Alert{
		Type:        TypeFailures,
		Destination: destination,
		Failures:    count,
		Window:      FormatWindow(f.Window),
		Threshold:   f.Threshold,
		At:          now,
	}, f.Window)
}

// BreakerChanged implements connectors.BreakerObserver. It returns at
// once: a goroutine, bounded by WorkTimeout, records the state in
// switchboard_breaker and, when the breaker opened (or closed after
// opening) and breaker_open alerts are on, enqueues the alert. Failures
// are logged.
func (n *Notifier) BreakerChanged(destination, from, to string) {
	// The time is taken now, in the caller's order of changes: the write
	// keeps the latest change even if the goroutines finish out of order.
	at := n.now()
	n.pending.Add(1)
	go func() {
		defer n.pending.Done()
		ctx, cancel := context.WithTimeout(context.Background(), WorkTimeout)
		defer cancel()
		if err := n.publish(ctx, destination, to, at); err != nil {
			n.logger().Warn("alert: breaker state not published", "destination", destination, "state", to, "error", err)
		}
		a, ok := n.breakerAlert(destination, from, to, at)
		if !ok {
			return
		}
		if err := n.enqueue(ctx, a, BreakerAlertPeriod); err != nil {
			n.logger().Warn("alert: breaker alert not enqueued", "destination", destination, "alert_type", a.Type, "error", err)
		}
	}()
}

// ResponseTooLarge is called when a poll of source failed because one
// record alone is over the answer limit. It enqueues a TypeResponseTooLarge
// alert, at most one per source per ResponseTooLargePeriod, whenever an
// alert URL is configured: no page size gets the poll past it. Its own
// failures are logged.
func (n *Notifier) ResponseTooLarge(ctx context.Context, source string) {
	if n.Config == nil || n.Config.URL == "" {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, WorkTimeout)
	defer cancel()
	if err := n.enqueue(ctx, Alert{Type: TypeResponseTooLarge, Destination: source, At: n.now()}, ResponseTooLargePeriod); err != nil {
		n.logger().Warn("alert: response too large alert not enqueued", "destination", source, "error", err)
	}
}

// Wait blocks until the breaker changes being recorded are done. Call it
// at shutdown, after the workers stopped and before the store closes.
func (n *Notifier) Wait() { n.pending.Wait() }

// breakerAlert is the alert a breaker change raises, if any.
func (n *Notifier) breakerAlert(destination, from, to string, at time.Time) (Alert, bool) {
	if n.Config == nil || n.Config.URL == "" || !n.Config.BreakerOpen {
		return Alert{}, false
	}
	switch {
	case to == "open":
		return Alert{Type: TypeBreakerOpen, Destination: destination, BreakerState: to, At: at}, true
	case to == "closed" && from == "half-open":
		return Alert{Type: TypeRecovered, Destination: destination, BreakerState: to, At: at}, true
	}
	return Alert{}, false
}

// publish records one breaker change. The WHERE keeps a late write of an
// older change from overwriting a newer one.
func (n *Notifier) publish(ctx context.Context, destination, state string, at time.Time) error {
	_, err := n.DB.Exec(ctx, `INSERT INTO switchboard_breaker (destination, process, state, changed_at, updated_at)
		VALUES ($1, $2, $3, $4, $4)
		ON CONFLICT (destination, process) DO UPDATE
		SET state = excluded.state, changed_at = excluded.changed_at, updated_at = excluded.updated_at
		WHERE switchboard_breaker.changed_at <= excluded.changed_at`,
		destination, n.Process, state, at.UnixMicro())
	if err != nil {
		return fmt.Errorf("alert: record breaker of destination %q: %w", destination, err)
	}
	return nil
}

// Heartbeat records this process's breaker states (destination -> state,
// read just before the call) as current, so the health view can tell a
// live process's rows from a stopped one's, and deletes rows no process
// refreshed within StaleAfter. A state that differs from the recorded
// one (a change whose write was lost) replaces it; a state read just
// before a change and recorded after it is corrected by the next beat.
// Failures are logged; the next beat tries again.
func (n *Notifier) Heartbeat(ctx context.Context, states map[string]string) {
	if err := n.heartbeat(ctx, states); err != nil {
		n.logger().Warn("alert: breaker heartbeat failed", "error", err)
	}
}

func (n *Notifier) heartbeat(ctx context.Context, states map[string]string) error {
	now := n.now().UnixMicro()
	var errs []error
	for destination, state := range states {
		_, err := n.DB.Exec(ctx, `INSERT INTO switchboard_breaker (destination, process, state, changed_at, updated_at)
			VALUES ($1, $2, $3, $4, $4)
			ON CONFLICT (destination, process) DO UPDATE
			SET state = excluded.state, updated_at = excluded.updated_at,
			    changed_at = CASE WHEN switchboard_breaker.state = excluded.state
			                      THEN switchboard_breaker.changed_at ELSE excluded.changed_at END`,
			destination, n.Process, state, now)
		if err != nil {
			errs = append(errs, fmt.Errorf("alert: heartbeat of destination %q: %w", destination, err))
		}
	}
	if _, err := n.DB.Exec(ctx, `DELETE FROM switchboard_breaker WHERE updated_at < $1`,
		now-StaleAfter.Microseconds()); err != nil {
		errs = append(errs, fmt.Errorf("alert: delete stale breaker rows: %w", err))
	}
	return errors.Join(errs...)
}

// enqueue inserts the alert job, unique per key over period.
func (n *Notifier) enqueue(ctx context.Context, a Alert, period time.Duration) error {
	if n.Insert == nil {
		return errors.New("alert: the notifier has no Insert function")
	}
	args := Args{Alert: a, Key: key(a.Type, a.Destination, period, a.At)}
	err := n.Insert(ctx, args, &river.InsertOpts{
		Queue:       Queue,
		MaxAttempts: MaxAttempts,
		UniqueOpts:  river.UniqueOpts{ByArgs: true, ByPeriod: period},
	})
	if err != nil {
		return fmt.Errorf("alert: enqueue %s for destination %q: %w", a.Type, a.Destination, err)
	}
	return nil
}

func (n *Notifier) now() time.Time {
	if n.Now == nil {
		return time.Now()
	}
	return n.Now()
}

func (n *Notifier) logger() *slog.Logger {
	if n.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return n.Logger
}

// Transactor is what StoreInserter needs of the store.
type Transactor interface {
	InTx(ctx context.Context, fn func(ctx context.Context, tx store.Tx) error) error
}

// StoreInserter returns a Notifier.Insert that inserts each job in a
// transaction of its own on st. A duplicate of a unique job is skipped by
// River and is not an error.
func StoreInserter(st Transactor) func(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) error {
	return func(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) error {
		return st.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
			_, err := tx.InsertJobs(ctx, []river.InsertManyParams{{Args: args, InsertOpts: opts}})
			return err
		})
	}
}
