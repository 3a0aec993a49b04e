package main

import (
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/switchboard-health/switchboard/hub/auth"
	"github.com/switchboard-health/switchboard/hub/logging"
	"github.com/switchboard-health/switchboard/hub/store"
)

// `clients create --rate N --burst M` stores the client's own inbound
// limit, which the token then carries and `clients list` shows.
func TestClientsCLIRate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hub.db")
	t.Setenv("DATABASE_URL", "")
	t.Setenv("SWITCHBOARD_SQLITE_PATH", path)
	t.Setenv("SWITCHBOARD_LOG_LEVEL", "error")
	if _, err := runCmd(t, migrateCmd()); err != nil {
		t.Fatal(err)
	}
	out, err := runCmd(t, clientsCmd(), "create", "--name", "importer", "--role", "app", "--scope", "system/Patient.cu",
		"--rate", "2.5", "--burst", "5")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "rate: 2.5 requests per second, burst 5, per hub process") {
		t.Errorf("create printed:\n%s", out)
	}
	tok := regexp.MustCompile(`(?m)^token: (sb_\S+)$`).FindStringSubmatch(out)[1]
	if _, err := runCmd(t, clientsCmd(), "create", "--name", "app", "--role", "app", "--scope", "system/Patient.cu"); err != nil {
		t.Fatal(err)
	}

	st, err := store.Open(context.Background(), store.Config{SQLitePath: path, Logger: logging.Discard()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	p, err := (&auth.Clients{DB: st.DB(), CacheFor: -1}).Verify(context.Background(), tok)
	if err != nil || p.RatePerSecond != 2.5 || p.RateBurst != 5 {
		t.Fatalf("token: %+v, %v", p, err)
	}

	out, err = runCmd(t, clientsCmd(), "list")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`importer\s+app\s+system/Patient.cu\s+2.5/s burst 5\s`).MatchString(out) ||
		!regexp.MustCompile(`app\s+app\s+system/Patient.cu\s+default\s`).MatchString(out) {
		t.Errorf("list:\n%s", out)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--rate", "0"}, "rate must be above 0"},
		{[]string{"--burst", "5"}, "--burst needs --rate"},
		{[]string{"--rate", "1", "--burst", "-3"}, "burst 1 or more"},
	} {
		args := append([]string{"create", "--name", "x", "--role", "app", "--scope", "system/Patient.cu"}, tc.args...)
		if out, err := runCmd(t, clientsCmd(), args...); err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(out, "token:") {
			t.Errorf("%v: %v, want an error saying %q", tc.args, err, tc.want)
		}
	}
}
