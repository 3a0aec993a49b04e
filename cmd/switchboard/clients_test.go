package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/switchboard-health/switchboard/hub/auth"
	"github.com/switchboard-health/switchboard/hub/logging"
	"github.com/switchboard-health/switchboard/hub/store"
)

// runCmd runs a fresh command tree with args and returns its output.
func runCmd(t *testing.T, cmd *cobra.Command, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

// The bootstrap an operator follows: migrate, create the first admin with
// the CLI, and the token it printed is one the hub accepts.
func TestClientsCLI(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hub.db")
	t.Setenv("DATABASE_URL", "")
	t.Setenv("SWITCHBOARD_SQLITE_PATH", path)
	t.Setenv("SWITCHBOARD_LOG_LEVEL", "error")

	if _, err := runCmd(t, clientsCmd(), "list"); err == nil || !strings.Contains(err.Error(), "switchboard migrate") {
		t.Fatalf("before migrate: %v", err)
	}
	if _, err := runCmd(t, migrateCmd()); err != nil {
		t.Fatal(err)
	}

	out, err := runCmd(t, clientsCmd(), "create", "--name", "ops on-call", "--role", "admin")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^token: (sb_\S+)$`).FindStringSubmatch(out)
	if m == nil || !strings.Contains(out, "cannot be shown again") {
		t.Fatalf("create printed:\n%s", out)
	}
	adminTok := m[1]
	out, err = runCmd(t, clientsCmd(), "create", "--name", "scheduling", "--role", "app",
		"--scope", "system/Patient.cu", "--scope", "system/Appointment.rs system/Slot.rs")
	if err != nil {
		t.Fatal(err)
	}
	appTok := regexp.MustCompile(`(?m)^token: (sb_\S+)$`).FindStringSubmatch(out)[1]

	st, err := store.Open(context.Background(), store.Config{SQLitePath: path, Logger: logging.Discard()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	clients := &auth.Clients{DB: st.DB(), CacheFor: -1}
	p, err := clients.Verify(context.Background(), adminTok)
	if err != nil || p.Role != auth.RoleAdmin || p.Name != "ops on-call" {
		t.Fatalf("admin token: %+v, %v", p, err)
	}
	p, err = clients.Verify(context.Background(), appTok)
	if err != nil || !p.Allows("Patient", 'u') || !p.Allows("Slot", 's') || p.Allows("Patient", 'r') {
		t.Fatalf("app token: %+v, %v", p, err)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"create", "--name", "x", "--role", "app"}, "at least one scope"},
		{[]string{"create", "--name", "x", "--role", "app", "--scope", "system/Patinet.rs"}, "not a FHIR R4 resource type"},
		{[]string{"create", "--name", "x", "--role", "app", "--scope", "system/Patient.cdu"}, "in that order"},
		{[]string{"create", "--name", "x", "--role", "auditor", "--scope", "system/*.rs"}, "scopes are for apps"},
		{[]string{"create", "--name", "x", "--role", "root"}, "role must be"},
		{[]string{"create", "--role", "admin"}, `"name" not set`},
		{[]string{"revoke", "cl_ffffffffffffffff"}, "no API client"},
		{[]string{"list", "-o", "yaml"}, "table or json"},
	} {
		if out, err := runCmd(t, clientsCmd(), tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(out, "token:") {
			t.Errorf("%v: %v, want an error saying %q", tc.args, err, tc.want)
		}
	}

	out, err = runCmd(t, clientsCmd(), "list", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var list []map[string]any
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	if len(list) != 2 || list[0]["role"] != "admin" || list[1]["name"] != "scheduling" {
		t.Fatalf("list:\n%s", out)
	}
	if strings.Contains(out, "hash") || strings.Contains(out, adminTok[len(adminTok)-43:]) {
		t.Fatalf("list shows a secret:\n%s", out)
	}
	appID := list[1]["id"].(string)

	out, err = runCmd(t, clientsCmd(), "revoke", appID)
	if err != nil || !strings.Contains(out, "revoked "+appID) {
		t.Fatalf("revoke: %v\n%s", err, out)
	}
	if _, err := clients.Verify(context.Background(), appTok); !errors.Is(err, auth.ErrInvalidToken) {
		t.Fatalf("revoked app token: %v", err)
	}
	out, err = runCmd(t, clientsCmd(), "list")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "ID") || !strings.Contains(lines[2], appID) ||
		!regexp.MustCompile(`\d{4}-\d\d-\d\dT\S+Z\s*$`).MatchString(lines[2]) || !strings.HasSuffix(strings.TrimSpace(lines[1]), "-") {
		t.Fatalf("table:\n%s", out)
	}
}
