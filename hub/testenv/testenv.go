// Package testenv gives tests real parts instead of fakes: a throwaway
// PostgreSQL cluster with a fresh database per test, stripe-mock (Stripe's
// own spec-driven mock), free loopback ports and the repository's paths.
// Nothing here skips a test: a missing tool fails it with the command that
// installs it (`make test` installs everything).
//
// Lifetimes: StripeMock starts one stripe-mock per test and kills it in
// t.Cleanup. Postgres creates one database per test, dropped in t.Cleanup,
// on the server named by $SWITCHBOARD_TEST_PG_URL (scripts/test.sh starts one
// cluster for the whole run) or else on a cluster started once per test
// binary. That cluster outlives any single test, so packages that use
// Postgres stop it from their TestMain:
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
package testenv

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
)

// Main runs the tests, stops the PostgreSQL cluster Postgres started for this
// binary (if any) and exits with the tests' status. Call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	stopCluster()
	os.Exit(code)
}

// RepoRoot returns the repository root: the nearest folder at or above the
// working directory (a package folder under go test) that holds go.mod.
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

// SharedDir returns <root>/../shared (vendor specs and mocks shared between
// checkouts) and whether it exists.
func SharedDir(t testing.TB) (string, bool) {
	t.Helper()
	dir := filepath.Join(RepoRoot(t), "..", "shared")
	if st, err := os.Stat(dir); err == nil && st.IsDir() {
		return dir, true
	}
	return "", false
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	p, err := loopbackPort()
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return p
}

func loopbackPort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port on 127.0.0.1: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
