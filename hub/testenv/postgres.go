package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// PostgresURLEnv names the variable holding the URL of a server to use
// (its maintenance database, e.g. postgres://postgres@127.0.0.1:5433/postgres).
// scripts/test.sh starts one throwaway cluster for the whole `make test` run
// and sets it; without it each test binary starts its own cluster.
const PostgresURLEnv = "SWITCHBOARD_TEST_PG_URL"

// cluster is the throwaway cluster this test binary started, if any.
var cluster struct {
	once    sync.Once
	url     string
	took    time.Duration
	logged  sync.Once
	stop    func()
	err     error
	stopped sync.Once
}

// Postgres returns a postgres:// URL to a fresh, empty database created for
// this test and dropped (WITH FORCE) in t.Cleanup.
//
// The server is the one named by $SWITCHBOARD_TEST_PG_URL or, when that is
// unset, a throwaway cluster started once per test binary: initdb in a temp
// dir (as the postgres user when running as root), loopback only, a free
// port, fsync/synchronous_commit/full_page_writes off. Packages that call
// Postgres must stop that cluster from their TestMain:
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
//
// (A watchdog process also stops it if the binary dies without reaching
// Main's end, e.g. on a panic or a -timeout.) A missing initdb fails the
// test with the command that installs it; it never skips.
func Postgres(t testing.TB) string {
	t.Helper()
	server := serverURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, server)
	if err != nil {
		t.Fatalf("testenv: connect to the test PostgreSQL server: %v", err)
	}
	defer admin.Close(ctx)
	var b [8]byte
	_, _ = rand.Read(b[:])
	name := "sbtest_" + hex.EncodeToString(b[:])
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("testenv: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, server)
		if err != nil {
			t.Errorf("testenv: drop database %s: connect: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("testenv: drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(server)
	if err != nil {
		t.Fatalf("testenv: $%s is not a postgres:// URL: %v", PostgresURLEnv, err)
	}
	u.Path = "/" + name
	u.RawPath = ""
	return u.String()
}

// PostgresDataDir returns the data directory of the server Postgres uses
// (SHOW data_directory), for tests that inspect the files on disk, e.g.
// scanning them for canary PHI that must only be stored sealed.
func PostgresDataDir(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, serverURL(t))
	if err != nil {
		t.Fatalf("testenv: connect to the test PostgreSQL server: %v", err)
	}
	defer c.Close(ctx)
	var dir string
	if err := c.QueryRow(ctx, "SHOW data_directory").Scan(&dir); err != nil {
		t.Fatalf("testenv: SHOW data_directory: %v", err)
	}
	return dir
}

func serverURL(t testing.TB) string {
	t.Helper()
	if u := os.Getenv(PostgresURLEnv); u != "" {
		return u
	}
	cluster.once.Do(startCluster)
	if cluster.err != nil {
		t.Fatalf("testenv: throwaway PostgreSQL: %v", cluster.err)
	}
	cluster.logged.Do(func() {
		t.Logf("testenv: started a throwaway PostgreSQL cluster in %v", cluster.took.Round(time.Millisecond))
	})
	return cluster.url
}

// stopCluster stops the cluster this binary started, if any. Main calls it.
func stopCluster() {
	cluster.stopped.Do(func() {
		if cluster.stop != nil {
			cluster.stop()
		}
	})
}

// findPGBin looks for a PostgreSQL server binary on PATH, then in Debian's
// /usr/lib/postgresql/<version>/bin, newest version first.
func findPGBin(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/" + name)
	sort.Slice(matches, func(i, j int) bool { return pgVersion(matches[i]) > pgVersion(matches[j]) })
	for _, m := range matches {
		if st, err := os.Stat(m); err == nil && !st.IsDir() {
			return m, nil
		}
	}
	return "", fmt.Errorf("%s not found on PATH or in /usr/lib/postgresql/*/bin: run `make test` (it installs PostgreSQL) or `apt-get install postgresql`", name)
}

func pgVersion(path string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(path))))
	return v
}

// startCluster creates and starts the throwaway cluster; errors land in
// cluster.err and fail every test that asks for it.
func startCluster() {
	begin := time.Now()
	initdb, err := findPGBin("initdb")
	if err != nil {
		cluster.err = err
		return
	}
	pgctl := filepath.Join(filepath.Dir(initdb), "pg_ctl")
	if _, err := os.Stat(pgctl); err != nil {
		if pgctl, err = findPGBin("pg_ctl"); err != nil {
			cluster.err = err
			return
		}
	}
	base, err := os.MkdirTemp("", "switchboard-pg.")
	if err != nil {
		cluster.err = fmt.Errorf("make a temp dir: %w", err)
		return
	}
	data, sock := filepath.Join(base, "data"), filepath.Join(base, "sock")
	for _, d := range []string{data, sock} {
		if err := os.Mkdir(d, 0o700); err != nil {
			cluster.err = fmt.Errorf("make %s: %w", d, err)
			_ = os.RemoveAll(base)
			return
		}
	}
	// PostgreSQL refuses to run as root: as root, run it as the postgres user
	// Debian's package creates, owning the folders it writes.
	run := func(args ...string) *exec.Cmd { return exec.Command(args[0], args[1:]...) }
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			cluster.err = fmt.Errorf("running as root needs the postgres OS user (Debian's postgresql package creates it): %w", err)
			_ = os.RemoveAll(base)
			return
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		for _, d := range []string{base, data, sock} {
			if err := os.Chown(d, uid, gid); err != nil {
				cluster.err = fmt.Errorf("chown %s to postgres: %w", d, err)
				_ = os.RemoveAll(base)
				return
			}
		}
		run = func(args ...string) *exec.Cmd {
			return exec.Command("runuser", append([]string{"-u", "postgres", "--"}, args...)...)
		}
		if err := run("test", "-w", base).Run(); err != nil {
			cluster.err = fmt.Errorf("the postgres user cannot write %s (is $TMPDIR under a private folder such as /root?)", base)
			_ = os.RemoveAll(base)
			return
		}
	}
	removeAll := func() { _ = os.RemoveAll(base) }
	if out, err := run(initdb, "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8").CombinedOutput(); err != nil {
		cluster.err = fmt.Errorf("initdb: %v\n%s", err, out)
		removeAll()
		return
	}
	logFile := filepath.Join(base, "pg.log")
	var port int
	for attempt := 0; ; attempt++ {
		port, err = loopbackPort()
		if err != nil {
			cluster.err = err
			removeAll()
			return
		}
		opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -c unix_socket_directories=%s"+
			" -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300", port, sock)
		out, err := run(pgctl, "-D", data, "-l", logFile, "-w", "-o", opts, "start").CombinedOutput()
		if err == nil {
			break
		}
		if attempt == 2 { // the port was taken between freePort and bind, three times: give up
			log, _ := os.ReadFile(logFile)
			cluster.err = fmt.Errorf("pg_ctl start: %v\n%s\n%s", err, out, log)
			removeAll()
			return
		}
	}
	stopPG := func() { _ = run(pgctl, "-D", data, "-m", "immediate", "stop").Run() }
	watchdog := startWatchdog(base, run(pgctl, "-D", data, "-m", "immediate", "stop").Args)
	cluster.url = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
	cluster.took = time.Since(begin)
	cluster.stop = func() {
		stopPG()
		removeAll()
		if watchdog != nil {
			_ = watchdog.Process.Kill()
			_ = watchdog.Wait()
		}
	}
}

// startWatchdog starts a shell that waits for this test binary to exit and
// then stops the cluster and removes its folder, so a binary that dies
// before Main's cleanup (a panic, go test's -timeout, a package without
// TestMain) does not leave a postgres running. It gets its own process group
// so a Ctrl-C aimed at the tests does not kill it first, and no stdio, so
// go test does not wait for it. Best effort: nil if it cannot start.
func startWatchdog(base string, stop []string) *exec.Cmd {
	const script = `pid=$1; base=$2; shift 2
while kill -0 "$pid" 2>/dev/null; do sleep 1; done
"$@" >/dev/null 2>&1
rm -rf "$base"`
	args := append([]string{"-c", script, "testenv-pg-watchdog", strconv.Itoa(os.Getpid()), base}, stop...)
	cmd := exec.Command("/bin/sh", args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil
	}
	return cmd
}
