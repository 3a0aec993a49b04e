// Package testenv gives tests real parts instead of fakes: a throwaway
// PostgreSQL cluster with a fresh database per test, stripe-mock (Stripe's
// own spec-driven mock), free loopback ports and the repository's paths.
// Nothing here skips a test: a missing tool fails it with the command that
// installs it (`make test` installs everything).
//
// Packages that use Postgres call Main from TestMain so a cluster started
// for the test binary is stopped when it exits:
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
package testenv

import (
	"net"
	"os"
	"path/filepath"
	"testing"
)

// Main runs the tests and stops anything this package started for them.
func Main(m *testing.M) {
	code := m.Run()
	stopCluster()
	os.Exit(code)
}

// RepoRoot is the folder holding go.mod.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("testenv: no go.mod above the working directory")
		}
		dir = parent
	}
}

// SharedDir is ../shared beside the repository, when present.
func SharedDir(t testing.TB) (string, bool) {
	dir := filepath.Join(RepoRoot(t), "..", "shared")
	if st, err := os.Stat(dir); err == nil && st.IsDir() {
		return dir, true
	}
	return "", false
}

// FreePort returns a port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
