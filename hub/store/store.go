// Package store holds the hub's database and its River queue behind one code
// path for both dialects: PostgreSQL through pgx v5 (production, scales out)
// and SQLite through database/sql and River's riversqlite driver (the
// zero-setup default for one machine).
//
// River's client is generic over its transaction type (pgx.Tx or *sql.Tx).
// Rather than spreading that type parameter through the hub, the store keeps
// it inside and hands the rest of the hub two small interfaces: Querier for
// the hub's own SQL (written once, with $N placeholders both dialects accept)
// and Tx, which adds transactional job insertion. So "insert the transfer
// rows and their jobs in one transaction" is one function for both databases.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"riverqueue.com/riverui"
)

// Dialect names the SQL database behind a Store.
type Dialect string

const (
	// Postgres is PostgreSQL through pgx v5.
	Postgres Dialect = "postgres"
	// SQLite is an embedded SQLite file through modernc.org/sqlite.
	SQLite Dialect = "sqlite"
)

// Row is a single-row query result.
type Row interface {
	Scan(dest ...any) error
}

// Rows is a multi-row query result; callers must Close it.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close() error
}

// Querier runs the hub's own SQL. Queries use $1, $2... placeholders, which
// both pgx and modernc SQLite accept. Scan into sql.Null* types for NULLs.
type Querier interface {
	Exec(ctx context.Context, query string, args ...any) (int64, error)
	QueryRow(ctx context.Context, query string, args ...any) Row
	Query(ctx context.Context, query string, args ...any) (Rows, error)
}

// Tx is one database transaction that can also insert River jobs, so that
// the hub's rows and the jobs that act on them commit or vanish together.
type Tx interface {
	Querier
	// InsertJobs inserts jobs in this transaction and returns their ids in order.
	InsertJobs(ctx context.Context, params []river.InsertManyParams) ([]int64, error)
	// DeleteJobs deletes jobs through River (JobDeleteManyTx: a running
	// job is never deleted) and reports which it deleted: the jobs of an
	// accept that turned out to be an idempotent replay, before any worker
	// can see them, or a failed delivery's, whose sealed payload goes.
	DeleteJobs(ctx context.Context, ids []int64) (deleted map[int64]bool, err error)
	// Job reads a job through River (its args decoded from SQLite's JSONB
	// as from PostgreSQL's jsonb); nil when there is none.
	Job(ctx context.Context, id int64) (*rivertype.JobRow, error)
}

// Store is the hub's database and queue.
type Store interface {
	Dialect() Dialect
	// DB runs queries outside any transaction.
	DB() Querier
	// InTx runs fn in a transaction, committing when fn returns nil.
	InTx(ctx context.Context, fn func(ctx context.Context, tx Tx) error) error
	// Migrate applies River's migrations and the hub's own.
	Migrate(ctx context.Context) error
	// MigrationsCurrent reports whether every migration has been applied.
	MigrationsCurrent(ctx context.Context) (bool, error)
	// Ping checks that the database answers.
	Ping(ctx context.Context) error
	// StartWorkers starts River's producers and maintenance (leader election,
	// rescue of stuck jobs, periodic jobs). Only worker processes call it.
	// They run until StopWorkers, whatever becomes of ctx.
	StartWorkers(ctx context.Context) error
	// StopWorkers stops fetching new jobs and lets running ones finish until
	// shortly before ctx's deadline; the jobs still running then are
	// cancelled and recorded as retryable, so none is left 'running' for
	// River's rescuer. Without a deadline it waits for the jobs.
	StopWorkers(ctx context.Context) error
	// RescueStuck makes jobs of the given kinds running for longer than
	// after available again (or discards them after their last attempt):
	// their process died. It reports how many it moved (rescue.go).
	RescueStuck(ctx context.Context, after time.Duration, kinds ...string) (int, error)
	// Subscribe reports job events of the given kinds (tests and metrics).
	Subscribe(kinds ...river.EventKind) (<-chan *river.Event, func())
	// JobCancel cancels a job by id (admin "discard").
	JobCancel(ctx context.Context, id int64) (*rivertype.JobRow, error)
	// Job reads a job through River; nil when there is none (completed
	// jobs are cleaned after a while).
	Job(ctx context.Context, id int64) (*rivertype.JobRow, error)
	// JobRetry makes a job that is not running available now.
	JobRetry(ctx context.Context, id int64) error
	// PauseQueue stops every process fetching from a queue (its jobs wait,
	// they do not fail); ResumeQueue undoes it. Both persist in River's
	// queue table, so every process sees them.
	PauseQueue(ctx context.Context, name string) error
	ResumeQueue(ctx context.Context, name string) error
	// QueueUI is River UI (riverui) serving under prefix; Start it before use.
	QueueUI(logger *slog.Logger, prefix string) (*riverui.Handler, error)
	// Close releases the database.
	Close()
}

// Config opens a Store.
type Config struct {
	// DatabaseURL selects PostgreSQL (postgres:// or postgresql://); empty
	// selects SQLite at SQLitePath.
	DatabaseURL string
	// SQLitePath is the SQLite file (created with its folder when missing).
	SQLitePath string
	// MaxConns sizes the PostgreSQL pool; pgx's default (4 on 2 cores) starves
	// River's producers and the API together. Zero means 20.
	MaxConns int32
	// River is the queue configuration (workers, queues, retry policy). Its
	// Logger defaults to Logger. A config with no Queues can insert but not work.
	River *river.Config
	// Logger receives store and River logs.
	Logger *slog.Logger
}

// Open connects to the database named by cfg and builds the River client.
// It does not migrate.
func Open(ctx context.Context, cfg Config) (Store, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.River == nil {
		cfg.River = &river.Config{}
	}
	if cfg.River.Logger == nil {
		cfg.River.Logger = cfg.Logger
	}
	switch {
	case cfg.DatabaseURL == "":
		return openSQLite(ctx, cfg)
	case strings.HasPrefix(cfg.DatabaseURL, "postgres://"), strings.HasPrefix(cfg.DatabaseURL, "postgresql://"):
		return openPostgres(ctx, cfg)
	default:
		return nil, errors.New("store: DATABASE_URL must start with postgres:// or postgresql:// (unset it for the embedded SQLite default)")
	}
}

// Redact hides the password in a database URL for logs and config output.
func Redact(url string) string {
	scheme, rest, ok := strings.Cut(url, "://")
	if !ok {
		return url
	}
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return url
	}
	creds := rest[:at]
	if user, _, hasPass := strings.Cut(creds, ":"); hasPass {
		return fmt.Sprintf("%s://%s:xxxxx@%s", scheme, user, rest[at+1:])
	}
	return url
}

// IsNoRows reports whether err means a single-row query found nothing, in
// either dialect.
func IsNoRows(err error) bool {
	return errors.Is(err, sql.ErrNoRows) || errors.Is(err, pgx.ErrNoRows)
}

// Null returns nil for v's zero value and v otherwise, so that an empty
// string or a zero count is stored as NULL, the way the hub's tables mark
// "none".
func Null[T comparable](v T) any {
	var zero T
	if v == zero {
		return nil
	}
	return v
}

// DialectOf names the database behind a Querier or Tx from this package, ""
// for any other (a test double): code handed only a Querier can still write
// the SQL its dialect parses fastest.
func DialectOf(q Querier) Dialect {
	if d, ok := q.(interface{ dialect() Dialect }); ok {
		return d.dialect()
	}
	return ""
}
