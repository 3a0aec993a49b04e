package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver (pure Go)
)

func openSQLite(ctx context.Context, cfg Config) (Store, error) {
	path := cfg.SQLitePath
	if path == "" {
		path = filepath.Join("var", "switchboard.db")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("store: create folder for %s: %w", path, err)
	}
	if err := ownerOnly(path); err != nil {
		return nil, err
	}
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	// One connection: SQLite allows one writer, and River's driver docs advise
	// it to avoid SQLITE_BUSY between River's own concurrent operations.
	db.SetMaxOpenConns(1)
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	driver := riversqlite.New(db)
	client, err := river.NewClient(driver, cfg.River)
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("store: river client: %w", err)
	}
	return &backend[*sql.Tx]{
		dialect: SQLite,
		client:  client,
		driver:  driver,
		db:      sqlQuerier{db},
		sqlDB:   db,
		begin: func(ctx context.Context) (*sql.Tx, Querier, txEnd, error) {
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				return nil, nil, txEnd{}, err
			}
			return tx, sqlQuerier{tx}, txEnd{
				commit:   func(context.Context) error { return tx.Commit() },
				rollback: func(context.Context) error { return tx.Rollback() },
			}, nil
		},
		ping:   db.PingContext,
		close:  func() { _ = db.Close() },
		logger: cfg.Logger,
	}, nil
}

// sqlConn is what *sql.DB and *sql.Tx have in common.
type sqlConn interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

type sqlQuerier struct{ c sqlConn }

func (q sqlQuerier) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := q.c.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (q sqlQuerier) QueryRow(ctx context.Context, query string, args ...any) Row {
	return q.c.QueryRowContext(ctx, query, args...)
}

func (q sqlQuerier) Query(ctx context.Context, query string, args ...any) (Rows, error) {
	return q.c.QueryContext(ctx, query, args...)
}

func (sqlQuerier) dialect() Dialect { return SQLite }

// ownerOnly makes the SQLite file the owner's alone (0600) before SQLite
// opens it: creating it with that mode when missing, narrowing it and an
// existing -wal and -shm when a group or others could read them. The file
// holds no PHI in clear, but sealed payloads, keyed hashes and API token
// hashes are no one else's business. SQLite creates its -wal and -shm with
// the database file's mode, so they follow.
func ownerOnly(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("store: open %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("store: open %s: %w", path, err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("store: %w", err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			if err := os.Chmod(p, fi.Mode().Perm()&0o700); err != nil {
				return fmt.Errorf("store: make %s the owner's alone: %w", p, err)
			}
		}
	}
	return nil
}
