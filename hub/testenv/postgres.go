package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// SWITCHBOARD_TEST_PG_URL names a server to use (scripts/test.sh starts one
// for the whole run); without it a cluster is started once per test binary.
const pgURLVar = "SWITCHBOARD_TEST_PG_URL"

var cluster struct {
	once    sync.Once
	url     string
	dataDir string
	stop    func()
	err     error
}

// Postgres returns the URL of a fresh, empty database, dropped after the test.
func Postgres(t testing.TB) string {
	t.Helper()
	server := serverURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, server)
	if err != nil {
		t.Fatalf("testenv: connect to PostgreSQL: %v", err)
	}
	defer admin.Close(ctx)
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "sbtest_" + hex.EncodeToString(b[:])
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("testenv: create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if c, err := pgx.Connect(ctx, server); err == nil {
			_, _ = c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			c.Close(ctx)
		}
	})
	cfg, err := pgx.ParseConfig(server)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable", cfg.User, cfg.Host, cfg.Port, name)
}

// PostgresDataDir is the data directory of the server Postgres uses.
func PostgresDataDir(t testing.TB) string {
	t.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, serverURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var dir string
	if err := c.QueryRow(ctx, "SHOW data_directory").Scan(&dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

func serverURL(t testing.TB) string {
	t.Helper()
	if u := os.Getenv(pgURLVar); u != "" {
		return u
	}
	cluster.once.Do(startCluster)
	if cluster.err != nil {
		t.Fatalf("testenv: %v", cluster.err)
	}
	return cluster.url
}

func stopCluster() {
	if cluster.stop != nil {
		cluster.stop()
	}
}

func findBin(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/" + name)
	if len(matches) > 0 {
		return matches[len(matches)-1], nil
	}
	return "", fmt.Errorf("%s not found: run `make test` (it installs Debian's postgresql) or `apt-get install postgresql`", name)
}

// startCluster creates a throwaway cluster on a free loopback port, tuned
// for tests (no fsync), owned by the postgres user when running as root.
func startCluster() {
	initdb, err := findBin("initdb")
	if err != nil {
		cluster.err = err
		return
	}
	pgctl, err := findBin("pg_ctl")
	if err != nil {
		cluster.err = err
		return
	}
	base, err := os.MkdirTemp("", "switchboard-pg")
	if err != nil {
		cluster.err = err
		return
	}
	data, sock := filepath.Join(base, "data"), filepath.Join(base, "sock")
	_ = os.MkdirAll(data, 0o700)
	_ = os.MkdirAll(sock, 0o700)
	run := func(args ...string) *exec.Cmd { return exec.Command(args[0], args[1:]...) }
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			cluster.err = fmt.Errorf("running as root needs the postgres user (install Debian's postgresql): %w", err)
			return
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		for _, d := range []string{base, data, sock} {
			_ = os.Chown(d, uid, gid)
		}
		run = func(args ...string) *exec.Cmd {
			return exec.Command("runuser", append([]string{"-u", "postgres", "--"}, args...)...)
		}
	}
	if out, err := run(initdb, "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8").CombinedOutput(); err != nil {
		cluster.err = fmt.Errorf("initdb: %v\n%s", err, out)
		return
	}
	port := freePort()
	opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -c unix_socket_directories=%s -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300", port, sock)
	if out, err := run(pgctl, "-D", data, "-l", filepath.Join(base, "pg.log"), "-w", "-o", opts, "start").CombinedOutput(); err != nil {
		cluster.err = fmt.Errorf("pg_ctl start: %v\n%s", err, out)
		return
	}
	cluster.url = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
	cluster.dataDir = data
	cluster.stop = func() {
		_ = run(pgctl, "-D", data, "-m", "immediate", "stop").Run()
		_ = os.RemoveAll(base)
	}
}

func freePort() int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 55432
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
