package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"time"

	"riverqueue.com/riverui"

	"github.com/pressly/goose/v3"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"
)

// backend is the one implementation of Store; TTx is pgx.Tx or *sql.Tx.
// Only the few dialect-specific pieces (opening, beginning a transaction,
// the goose dialect) differ, and they are supplied as fields.
type backend[TTx any] struct {
	dialect Dialect
	client  *river.Client[TTx]
	driver  riverdriver.Driver[TTx]
	db      Querier
	sqlDB   *sql.DB // for goose, which speaks database/sql
	begin   func(ctx context.Context) (TTx, Querier, txEnd, error)
	ping    func(ctx context.Context) error
	close   func()
	logger  *slog.Logger
}

// txEnd commits or rolls back.
type txEnd struct {
	commit   func(ctx context.Context) error
	rollback func(ctx context.Context) error
}

type backendTx[TTx any] struct {
	Querier
	tx     TTx
	client *river.Client[TTx]
}

func (t *backendTx[TTx]) InsertJobs(ctx context.Context, params []river.InsertManyParams) ([]int64, error) {
	res, err := t.client.InsertManyTx(ctx, t.tx, params)
	if err != nil {
		return nil, fmt.Errorf("store: insert %d jobs: %w", len(params), err)
	}
	ids := make([]int64, len(res))
	for i, r := range res {
		ids[i] = r.Job.ID
	}
	return ids, nil
}

func (t *backendTx[TTx]) DeleteJobs(ctx context.Context, ids []int64) (map[int64]bool, error) {
	deleted := make(map[int64]bool, len(ids))
	for start := 0; start < len(ids); start += deleteManyMax {
		chunk := ids[start:min(start+deleteManyMax, len(ids))]
		res, err := t.client.JobDeleteManyTx(ctx, t.tx, river.NewJobDeleteManyParams().IDs(chunk...).First(len(chunk)))
		if err != nil {
			return nil, fmt.Errorf("store: delete %d jobs: %w", len(chunk), err)
		}
		for _, j := range res.Jobs {
			deleted[j.ID] = true
		}
	}
	return deleted, nil
}

// deleteManyMax is the most jobs River deletes in one call.
const deleteManyMax = 10_000

func (t *backendTx[TTx]) Job(ctx context.Context, id int64) (*rivertype.JobRow, error) {
	j, err := t.client.JobGetTx(ctx, t.tx, id)
	if errors.Is(err, rivertype.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: read job %d: %w", id, err)
	}
	return j, nil
}

func (b *backend[TTx]) Dialect() Dialect { return b.dialect }
func (b *backend[TTx]) DB() Querier      { return b.db }

func (b *backend[TTx]) InTx(ctx context.Context, fn func(ctx context.Context, tx Tx) error) (err error) {
	tx, q, end, err := b.begin(ctx)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	defer func() {
		if err != nil {
			// The caller's context may be done; roll back regardless.
			if rbErr := end.rollback(context.WithoutCancel(ctx)); rbErr != nil && !errors.Is(rbErr, sql.ErrTxDone) {
				b.logger.Warn("store: rollback failed", "error", rbErr)
			}
		}
	}()
	if err = fn(ctx, &backendTx[TTx]{Querier: q, tx: tx, client: b.client}); err != nil {
		return err
	}
	if err = end.commit(ctx); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

func (b *backend[TTx]) Ping(ctx context.Context) error { return b.ping(ctx) }

func (b *backend[TTx]) StartWorkers(ctx context.Context) error {
	// River hard-stops when its start context ends: every running job is
	// cancelled at once. A SIGTERM cancels the serve context before the
	// drain, so River's lifetime is detached from it and StopWorkers alone
	// decides how jobs stop.
	if err := b.client.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("store: start river: %w", err)
	}
	return nil
}

// hardStopReserve is the part of a drain deadline kept for cancelling the
// jobs still running and recording them as retryable: a quarter of the
// time left, at most hardStopMax.
func hardStopReserve(left time.Duration) time.Duration {
	return min(left/4, hardStopMax)
}

// hardStopMax bounds the reserve; a cancelled delivery returns at once and
// River records it in one batch.
const hardStopMax = 2 * time.Second

func (b *backend[TTx]) StopWorkers(ctx context.Context) error {
	// Running jobs may finish until shortly before the deadline. Then they
	// are cancelled and River records them as retryable: a job left
	// 'running' by an exiting process would wait for the rescuer
	// (SWITCHBOARD_RESCUE_AFTER) before anyone tried it again.
	soft, cancel := ctx, context.CancelFunc(func() {})
	if dl, ok := ctx.Deadline(); ok {
		soft, cancel = context.WithDeadline(ctx, dl.Add(-hardStopReserve(time.Until(dl))))
	}
	defer cancel()
	if err := b.client.Stop(soft); err == nil {
		return nil
	}
	hard, cancelHard := ctx, context.CancelFunc(func() {})
	if ctx.Err() != nil { // no time left at all: still hand the jobs back
		hard, cancelHard = context.WithTimeout(context.WithoutCancel(ctx), hardStopMax)
	}
	defer cancelHard()
	b.logger.Warn("store: running jobs did not finish before the drain deadline; cancelling them, they will be retried")
	if err := b.client.StopAndCancel(hard); err != nil {
		return fmt.Errorf("store: stop river: cancelled jobs did not return in time (River will rescue them): %w", err)
	}
	return nil
}

func (b *backend[TTx]) Subscribe(kinds ...river.EventKind) (<-chan *river.Event, func()) {
	return b.client.Subscribe(kinds...)
}

func (b *backend[TTx]) JobCancel(ctx context.Context, id int64) (*rivertype.JobRow, error) {
	return b.client.JobCancel(ctx, id)
}

func (b *backend[TTx]) Job(ctx context.Context, id int64) (*rivertype.JobRow, error) {
	j, err := b.client.JobGet(ctx, id)
	if errors.Is(err, rivertype.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: read job %d: %w", id, err)
	}
	return j, nil
}

func (b *backend[TTx]) JobRetry(ctx context.Context, id int64) error {
	_, err := b.client.JobRetry(ctx, id)
	return err
}

func (b *backend[TTx]) PauseQueue(ctx context.Context, name string) error {
	return b.client.QueuePause(ctx, name, nil)
}

func (b *backend[TTx]) ResumeQueue(ctx context.Context, name string) error {
	return b.client.QueueResume(ctx, name, nil)
}

func (b *backend[TTx]) QueueUI(logger *slog.Logger, prefix string) (*riverui.Handler, error) {
	return riverui.NewHandler(&riverui.HandlerOpts{
		Endpoints: riverui.NewEndpoints(b.client, nil),
		Logger:    logger,
		Prefix:    prefix,
		// Args are sealed envelopes anyway; hiding them keeps the list
		// readable.
		JobListHideArgsByDefault: true,
	})
}

func (b *backend[TTx]) Close() { b.close() }

func (b *backend[TTx]) Migrate(ctx context.Context) error {
	rm, err := rivermigrate.New(b.driver, &rivermigrate.Config{Logger: b.logger})
	if err != nil {
		return fmt.Errorf("store: river migrator: %w", err)
	}
	if _, err := rm.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("store: river migrations: %w", err)
	}
	p, err := b.goose()
	if err != nil {
		return err
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("store: hub migrations: %w", err)
	}
	return nil
}

func (b *backend[TTx]) MigrationsCurrent(ctx context.Context) (bool, error) {
	rm, err := rivermigrate.New(b.driver, &rivermigrate.Config{Logger: b.logger})
	if err != nil {
		return false, err
	}
	have, err := rm.ExistingVersions(ctx)
	if err != nil {
		return false, nil // no river_migration table yet
	}
	if len(have) < len(rm.AllVersions()) {
		return false, nil
	}
	p, err := b.goose()
	if err != nil {
		return false, err
	}
	pending, err := p.HasPending(ctx)
	if err != nil {
		return false, fmt.Errorf("store: check hub migrations: %w", err)
	}
	return !pending, nil
}

func (b *backend[TTx]) goose() (*goose.Provider, error) {
	dialect, dir := goose.DialectPostgres, "migrations/postgres"
	if b.dialect == SQLite {
		dialect, dir = goose.DialectSQLite3, "migrations/sqlite"
	}
	sub, err := fs.Sub(migrationsFS, dir)
	if err != nil {
		return nil, err
	}
	p, err := goose.NewProvider(dialect, b.sqlDB, sub,
		goose.WithTableName("switchboard_migration"),
		goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return nil, fmt.Errorf("store: hub migrations: %w", err)
	}
	return p, nil
}

func (t *backendTx[TTx]) dialect() Dialect { return DialectOf(t.Querier) }
