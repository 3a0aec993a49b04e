package main

import (
	"bufio"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSandboxTable: names and ports are unique, and every port is in the
// range deploy/compose.yaml publishes and the Dockerfile exposes.
func TestSandboxTable(t *testing.T) {
	names, ports := map[string]bool{}, map[int]bool{}
	for _, x := range sandboxes() {
		if names[x.name] || ports[x.port] {
			t.Errorf("sandbox %s: name or port %d given twice", x.name, x.port)
		}
		names[x.name], ports[x.port] = true, true
		if x.port < 9091 || x.port > 9099 {
			t.Errorf("sandbox %s: port %d is outside 9091-9099", x.name, x.port)
		}
		for k := range x.env {
			if !strings.HasPrefix(k, x.envPrefix()+"_") {
				t.Errorf("sandbox %s: variable %s does not start with %s_", x.name, k, x.envPrefix())
			}
		}
	}
}

// TestEnvFileNamesEverySandbox starts every sandbox with -env-file and
// reaches each at the base URL the file gives: what `make run` relies on to
// wire the hub to sandboxes it does not name.
func TestEnvFileNamesEverySandbox(t *testing.T) {
	envPath := filepath.Join(t.TempDir(), "sandboxes.env")
	cmd := exec.Command(os.Args[0], "-addr", "127.0.0.1:0", "-sandboxes", "127.0.0.1:0", "-env-file", envPath)
	cmd.Env = append(os.Environ(), "VENDORSIM_RUN_MAIN=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	// The first announcement comes after the env file is written.
	if _, err := bufio.NewReader(stdout).ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(envPath)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(envPath); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("env file mode: %v %v", fi.Mode(), err)
	}
	vars := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			vars[k] = v
		}
	}
	urls := map[string]string{"EHR": vars["EHR_BASE_URL"] + "/metadata"}
	for _, x := range sandboxes() {
		urls[x.name] = vars[x.envPrefix()+"_BASE_URL"] + "/_sandbox/log"
		for k, v := range x.env {
			if want := "${" + k + ":-" + v + "}"; vars[k] != want {
				t.Errorf("%s = %q, want %q", k, vars[k], want)
			}
		}
	}
	c := http.Client{Timeout: 5 * time.Second}
	for name, u := range urls {
		resp, err := c.Get(u)
		if err != nil {
			t.Errorf("%s sandbox at %s: %v", name, u, err)
			continue
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s sandbox at %s: %d", name, u, resp.StatusCode)
		}
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
}
