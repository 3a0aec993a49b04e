package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchboard-health/switchboard/hub/auth"
	"github.com/switchboard-health/switchboard/hub/logging"
	"github.com/switchboard-health/switchboard/hub/store"
)

// The file `make run` writes for a second terminal: sourced by bash, it
// sets the exported settings exactly (quotes and spaces included), puts the
// binaries' folder on PATH once however often it is sourced, and holds an
// app, an admin and an auditor token that the hub accepts with those
// roles. It is 0600; a second run keeps the tokens and takes new settings;
// a revoked token makes new ones.
func TestDevEnvFile(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "hub.db")
	t.Setenv("DATABASE_URL", "")
	t.Setenv("SWITCHBOARD_SQLITE_PATH", db)
	t.Setenv("SWITCHBOARD_DEV_KEYS", filepath.Join(dir, "dev-keys.env"))
	t.Setenv("SWITCHBOARD_LOG_LEVEL", "error")
	if _, err := runCmd(t, migrateCmd()); err != nil {
		t.Fatal(err)
	}
	// A leftover file with loose permissions is replaced, not reused as is.
	out := filepath.Join(dir, "var", "dev.env")
	if err := os.MkdirAll(filepath.Dir(out), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, []byte("export SWITCHBOARD_APP_TOKEN=sb_cl_0000000000000000_stale\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "b in")
	t.Setenv("SWITCHBOARD_URL", "http://127.0.0.1:18080")
	t.Setenv("ODD_VALUE", `it's "quoted" $HOME `+"`x`")
	t.Setenv("UNSET_HERE", "")
	os.Unsetenv("UNSET_HERE")
	args := []string{"dev-tokens", "--out", out, "--export", "SWITCHBOARD_URL,ODD_VALUE", "--export", "UNSET_HERE", "--path", bin}
	if _, err := runCmd(t, clientsCmd(), args...); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("%s: %v, mode %v; want 0600", out, err, fi.Mode().Perm())
	}
	env := sourced(t, out)
	for k, want := range map[string]string{"SWITCHBOARD_URL": "http://127.0.0.1:18080", "ODD_VALUE": `it's "quoted" $HOME ` + "`x`", "UNSET_HERE": "<unset>"} {
		if env[k] != want {
			t.Errorf("%s = %q after source, want %q", k, env[k], want)
		}
	}
	if strings.Count(env["PATH"], bin) != 1 || !strings.HasPrefix(env["PATH"], bin+":") {
		t.Errorf("PATH after sourcing twice: %q, want %q first, once", env["PATH"], bin)
	}

	st, err := store.Open(context.Background(), store.Config{SQLitePath: db, Logger: logging.Discard()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	clients := &auth.Clients{DB: st.DB(), CacheFor: -1}
	for v, role := range map[string]string{"SWITCHBOARD_APP_TOKEN": auth.RoleApp, "SWITCHBOARD_ADMIN_TOKEN": auth.RoleAdmin, "SWITCHBOARD_AUDITOR_TOKEN": auth.RoleAuditor} {
		if p, err := clients.Verify(context.Background(), env[v]); err != nil || p.Role != role {
			t.Errorf("%s: %+v, %v; want a %s token", v, p, err, role)
		}
	}
	if _, ok := env["SWITCHBOARD_TOKEN"]; ok {
		t.Errorf("SWITCHBOARD_TOKEN is set (%q): it would override the role tokens and make audit commands 403", env["SWITCHBOARD_TOKEN"])
	}

	// Again, on other ports: the same tokens, the new address.
	t.Setenv("SWITCHBOARD_URL", "http://127.0.0.1:28080")
	if _, err := runCmd(t, clientsCmd(), args...); err != nil {
		t.Fatal(err)
	}
	again := sourced(t, out)
	if again["SWITCHBOARD_URL"] != "http://127.0.0.1:28080" || again["SWITCHBOARD_ADMIN_TOKEN"] != env["SWITCHBOARD_ADMIN_TOKEN"] {
		t.Errorf("second run: URL %q, admin token kept %v", again["SWITCHBOARD_URL"], again["SWITCHBOARD_ADMIN_TOKEN"] == env["SWITCHBOARD_ADMIN_TOKEN"])
	}

	// A revoked token: three new ones.
	p, err := clients.Verify(context.Background(), env["SWITCHBOARD_AUDITOR_TOKEN"])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := runCmd(t, clientsCmd(), "revoke", p.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := runCmd(t, clientsCmd(), args...); err != nil {
		t.Fatal(err)
	}
	if fresh := sourced(t, out); fresh["SWITCHBOARD_AUDITOR_TOKEN"] == env["SWITCHBOARD_AUDITOR_TOKEN"] {
		t.Error("the revoked auditor token was kept")
	} else if p, err := clients.Verify(context.Background(), fresh["SWITCHBOARD_AUDITOR_TOKEN"]); err != nil || p.Role != auth.RoleAuditor {
		t.Errorf("new auditor token: %+v, %v", p, err)
	}

	if _, err := runCmd(t, clientsCmd(), "dev-tokens", "--out", out, "--export", "NOT-A-NAME"); err == nil {
		t.Error("--export accepted a name that is not a variable")
	}
}

// sourced sources path twice in a clean bash and returns the variables it
// set ("<unset>" for those the test asks about but are not set).
func sourced(t *testing.T, path string) map[string]string {
	t.Helper()
	script := `source "$1"; source "$1"
for v in SWITCHBOARD_URL ODD_VALUE UNSET_HERE PATH SWITCHBOARD_APP_TOKEN SWITCHBOARD_ADMIN_TOKEN SWITCHBOARD_AUDITOR_TOKEN SWITCHBOARD_TOKEN; do
  if [ -n "${!v+x}" ]; then printf '%s=%s\0' "$v" "${!v}"; else printf '%s=<unset>\0' "$v"; fi
done`
	cmd := exec.Command("bash", "--noprofile", "--norc", "-c", script, "bash", path)
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("source %s: %v", path, err)
	}
	env := map[string]string{}
	for _, kv := range strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00") {
		k, v, _ := strings.Cut(kv, "=")
		if v != "<unset>" || k == "UNSET_HERE" {
			env[k] = v
		}
	}
	return env
}
