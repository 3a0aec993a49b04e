package testenv

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/riverqueue/river"

	"github.com/switchboard-health/switchboard/hub/logging"
	"github.com/switchboard-health/switchboard/hub/store"
)

// Store opens a migrated store of the dialect for a test: SQLite in the
// test's temporary folder, or a fresh PostgreSQL database (on
// $SWITCHBOARD_TEST_PG_URL, else a throwaway cluster). It can insert River
// jobs but works none. It is closed when the test ends.
func Store(t testing.TB, d store.Dialect) store.Store {
	t.Helper()
	ctx := context.Background()
	cfg := store.Config{SQLitePath: filepath.Join(t.TempDir(), "hub.db")}
	if d == store.Postgres {
		cfg = store.Config{DatabaseURL: Postgres(t)}
	}
	cfg.Logger = logging.Discard()
	cfg.River = &river.Config{}
	st, err := store.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return st
}
