package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
)

func openPostgres(ctx context.Context, cfg Config) (Store, error) {
	pcfg, err := pgxpool.ParseConfig(cfg.DatabaseURL)
	if err != nil {
		// pgx's message can include the URL; say what failed without it.
		return nil, fmt.Errorf("store: DATABASE_URL is not a valid PostgreSQL URL")
	}
	pcfg.MaxConns = cfg.MaxConns
	if pcfg.MaxConns <= 0 {
		pcfg.MaxConns = 20
	}
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("store: connect to %s: %w", Redact(cfg.DatabaseURL), err)
	}
	driver := riverpgxv5.New(pool)
	client, err := river.NewClient(driver, cfg.River)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("store: river client: %w", err)
	}
	sqlDB := stdlib.OpenDBFromPool(pool)
	return &backend[pgx.Tx]{
		dialect: Postgres,
		client:  client,
		driver:  driver,
		db:      pgxQuerier{pool},
		sqlDB:   sqlDB,
		begin: func(ctx context.Context) (pgx.Tx, Querier, txEnd, error) {
			tx, err := pool.Begin(ctx)
			if err != nil {
				return nil, nil, txEnd{}, err
			}
			return tx, pgxQuerier{tx}, txEnd{commit: tx.Commit, rollback: tx.Rollback}, nil
		},
		ping:   pool.Ping,
		close:  func() { _ = sqlDB.Close(); pool.Close() },
		logger: cfg.Logger,
	}, nil
}

// pgxConn is what pgxpool.Pool and pgx.Tx have in common.
type pgxConn interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

type pgxQuerier struct{ c pgxConn }

func (q pgxQuerier) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	tag, err := q.c.Exec(ctx, query, args...)
	return tag.RowsAffected(), err
}

func (q pgxQuerier) QueryRow(ctx context.Context, query string, args ...any) Row {
	return q.c.QueryRow(ctx, query, args...)
}

func (q pgxQuerier) Query(ctx context.Context, query string, args ...any) (Rows, error) {
	rows, err := q.c.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return pgxRows{rows}, nil
}

type pgxRows struct{ pgx.Rows }

func (r pgxRows) Close() error { r.Rows.Close(); return r.Rows.Err() }

func (pgxQuerier) dialect() Dialect { return Postgres }

// PgxQuerier runs the hub's SQL on a pgx pool or transaction of the
// caller's (the load generator's own pool).
func PgxQuerier(c interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}) Querier {
	return pgxQuerier{c}
}
