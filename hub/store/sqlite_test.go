package store

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/switchboard-health/switchboard/hub/logging"
)

// The SQLite database and its -wal and -shm are the owner's alone (0600),
// whatever the umask, and a database an older hub left readable by others
// is narrowed when opened.
func TestSQLiteFilesOwnerOnly(t *testing.T) {
	old := syscall.Umask(0o022)
	t.Cleanup(func() { syscall.Umask(old) })
	dir := t.TempDir()
	for _, c := range []struct {
		name     string
		existing os.FileMode // 0: no file before
	}{{"new", 0}, {"left readable", 0o644}} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, c.name, "switchboard.db")
			if c.existing != 0 {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				for _, p := range []string{path, path + "-wal"} {
					if err := os.WriteFile(p, nil, c.existing); err != nil {
						t.Fatal(err)
					}
				}
			}
			st, err := Open(context.Background(), Config{SQLitePath: path, Logger: logging.Discard()})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			// A write, so that SQLite makes its -wal and -shm.
			if _, err := st.DB().Exec(context.Background(), `CREATE TABLE t (x INTEGER)`); err != nil {
				t.Fatal(err)
			}
			for _, p := range []string{path, path + "-wal", path + "-shm"} {
				fi, err := os.Stat(p)
				if err != nil {
					t.Fatal(err)
				}
				if fi.Mode().Perm() != 0o600 {
					t.Errorf("%s: mode %v, want 0600", filepath.Base(p), fi.Mode().Perm())
				}
			}
		})
	}
}
