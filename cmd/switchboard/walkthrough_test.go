package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/switchboard-health/switchboard/hub/certs"
	"github.com/switchboard-health/switchboard/hub/testenv"
)

// TestReadmeWalkthrough runs the README's walkthrough as a user would, from
// a second terminal: `make run`'s script starts the hub and the sandboxes
// (on free ports, from a copy of the project whose var/ is the test's own),
// then every sh block of the walkthrough runs, in order, in one bash, from
// the project's folder, and its output must match the answer the README
// shows after it (readme_blocks_test.go states the conventions). A command
// that fails fails the test, and so does a changed answer. Then the
// sandboxes must have had one effect each (no duplicate from a retry), and
// var/ must hold none of the walkthrough's patient data, in any file (the
// sandboxes' logs included), and only files and folders of the owner's.
func TestReadmeWalkthrough(t *testing.T) { walkthrough(t, false) }

// TestReadmeWalkthroughOverTLS runs the same walkthrough with the hub
// serving HTTPS from a self-signed certificate (SWITCHBOARD_TLS_CERT and
// _KEY, as the README's TLS section says): every block works as written
// over https://, and the plain-HTTP listener only redirects.
func TestReadmeWalkthroughOverTLS(t *testing.T) { walkthrough(t, true) }

func walkthrough(t *testing.T, overTLS bool) {
	root := testenv.RepoRoot(t)
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	steps, err := walkthroughSteps(string(readme))
	if err != nil {
		t.Fatal(err)
	}
	canaries := walkthroughCanaries(t, root, string(readme))
	hubBin, simBin := binaries(t)

	// The project as a user has it, but with this test's var/: every
	// top-level entry linked, var/bin holding what `make build` puts there.
	base := t.TempDir()
	project := filepath.Join(base, "project")
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(project, "var", "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() == "var" || e.Name() == ".git" {
			continue
		}
		if err := os.Symlink(filepath.Join(root, e.Name()), filepath.Join(project, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	for name, bin := range map[string]string{"switchboard": hubBin, "vendorsim": simBin} {
		if err := os.Symlink(bin, filepath.Join(project, "var", "bin", name)); err != nil {
			t.Fatal(err)
		}
	}

	env := userEnv()
	hubPort, ehrPort := testenv.FreePort(t), testenv.FreePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", hubPort)
	// `make run` is `make build` (above), then this script.
	run := exec.Command("bash", "scripts/run.sh")
	run.Dir = project
	scheme, redirect := "http", ""
	if overTLS {
		certPEM, keyPEM, err := certs.SelfSigned(time.Hour, "127.0.0.1", "localhost")
		if err != nil {
			t.Fatal(err)
		}
		certPath, keyPath := filepath.Join(base, "hub.crt"), filepath.Join(base, "hub.key")
		if err := os.WriteFile(certPath, certPEM, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(keyPath, keyPEM, 0o600); err != nil {
			t.Fatal(err)
		}
		scheme, redirect = "https", fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
		run.Env = append(run.Env, "SWITCHBOARD_TLS_CERT="+certPath, "SWITCHBOARD_TLS_KEY="+keyPath,
			"SWITCHBOARD_HTTP_REDIRECT_ADDR="+redirect, "SWITCHBOARD_PUBLIC_URL=https://"+addr)
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(certPEM)
		http.DefaultTransport.(*http.Transport).TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		t.Cleanup(func() { http.DefaultTransport.(*http.Transport).TLSClientConfig = nil })
	}
	run.Env = append(run.Env, env...)
	run.Env = append(run.Env,
		"SWITCHBOARD_ADDR="+addr,
		fmt.Sprintf("EHR_PORT=%d", ehrPort),
		// Every vendor sandbox on a free port; var/sandboxes.env says which.
		"VENDORSIM_ARGS=-sandboxes 127.0.0.1:0",
		fmt.Sprintf("STRIPE_MOCK_PORT=%d", testenv.FreePort(t)),
		fmt.Sprintf("STRIPE_MOCK_HTTPS_PORT=%d", testenv.FreePort(t)),
	)
	// The terminal `make run` prints to: kept outside var/, scanned too.
	runLog := filepath.Join(base, "make-run.log")
	out, err := os.Create(runLog)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	run.Stdout, run.Stderr = out, out
	run.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		_ = syscall.Kill(-run.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = run.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = syscall.Kill(-run.Process.Pid, syscall.SIGKILL)
			<-done
		}
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			b, _ := os.ReadFile(runLog)
			t.Logf("make run printed (the end):\n%s", tail(string(b), 3000))
		}
	})
	waitHTTP(t, scheme+"://"+addr+"/readyz", 90*time.Second)
	if overTLS {
		// Plain HTTP on the hub's own port is refused (a TLS listener),
		// and the redirect listener sends a GET to the HTTPS URL.
		if resp, err := http.Get("http://" + addr + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode < 400 {
				t.Fatalf("plain HTTP to the TLS port: %d", resp.StatusCode)
			}
		}
		client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := client.Get("http://" + redirect + "/fhir/R4/metadata")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusPermanentRedirect || resp.Header.Get("Location") != "https://"+addr+"/fhir/R4/metadata" {
			t.Fatalf("the redirect listener: %d Location %q", resp.StatusCode, resp.Header.Get("Location"))
		}
	}

	// The second terminal.
	sh := startShell(t, project, env, filepath.Join(base, "blocks"))
	for i, s := range steps {
		if s.startHub {
			continue
		}
		deadline := time.Now().Add(s.repeat)
		tries := 0
		for {
			tries++
			output, failed := sh.run(t, i, s.script, 2*time.Minute)
			if failed != "" {
				t.Fatalf("README.md:%d: a command failed (%s):\n%s\noutput:\n%s", s.line, failed, s.script, output)
			}
			err := matchAnswer(s.lang, s.answer, output)
			if err == nil {
				if tries > 1 {
					t.Logf("README.md:%d: answered as documented after %d tries", s.line, tries)
				}
				break
			}
			if time.Now().Before(deadline) {
				time.Sleep(200 * time.Millisecond)
				continue
			}
			t.Fatalf("README.md:%d: the answer differs from the README's: %v\ncommand:\n%s\ndocumented:\n%s\nanswered:\n%s",
				s.line, err, s.script, s.answer, output)
		}
	}

	// Each vendor sandbox took its effect once.
	sandboxes := envFile(t, filepath.Join(project, "var", "sandboxes.env"))
	for _, name := range []string{"CALCOM", "CANDID", "HUBSPOT"} {
		base := sandboxes[name+"_BASE_URL"]
		if base == "" {
			t.Fatalf("var/sandboxes.env has no %s_BASE_URL", name)
		}
		resp, err := http.Get(base + "/_sandbox/log")
		if err != nil {
			t.Fatal(err)
		}
		var l struct {
			Effects          int `json:"effects"`
			DuplicateEffects int `json:"duplicate_effects"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&l)
		resp.Body.Close()
		if l.Effects != 1 || l.DuplicateEffects != 0 {
			t.Errorf("%s sandbox: %d effects (%d duplicate), want 1", name, l.Effects, l.DuplicateEffects)
		}
	}

	// Ctrl-C, then what the development hub left behind.
	stop()
	sh.close()
	scanned := scanForCanaries(t, filepath.Join(project, "var"), canaries)
	scanned += scanForCanaries(t, runLog, canaries)
	t.Logf("%d files scanned for %d canaries", scanned, len(canaries))
	checkOwnerOnly(t, filepath.Join(project, "var"))
	for _, f := range []string{"dev.env", "dev-keys.env", "sandboxes.env", "switchboard.db", "log/stripe-mock.log", "log/vendorsim.log", "audit-checkpoint.json"} {
		if _, err := os.Stat(filepath.Join(project, "var", f)); err != nil {
			t.Errorf("var/%s: %v (the scan above assumed it)", f, err)
		}
	}
}

// userEnv is this process's environment without the hub's settings, the
// sandboxes' and a database: a fresh terminal's.
func userEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case k == "STRIPE_MOCK_BIN":
		case k == "DATABASE_URL", strings.HasPrefix(k, "SWITCHBOARD_"), strings.HasPrefix(k, "OTEL_"),
			strings.HasPrefix(k, "EHR_"), strings.HasPrefix(k, "STRIPE_"), strings.HasPrefix(k, "CALCOM_"),
			strings.HasPrefix(k, "CANDID_"), strings.HasPrefix(k, "HUBSPOT_"):
			continue
		}
		env = append(env, kv)
	}
	return env
}

// walkthroughCanaries are the patient data the walkthrough sends: the
// README's Patient and the transaction Bundle's. Each must be in what is
// sent, so the scan cannot go vacuous when the walkthrough changes.
func walkthroughCanaries(t *testing.T, root, readme string) []string {
	t.Helper()
	bundle, err := os.ReadFile(filepath.Join(root, "testdata", "walkthrough", "transaction.json"))
	if err != nil {
		t.Fatal(err)
	}
	sent := readme[strings.Index(readme, "\n## Walkthrough\n"):] + string(bundle)
	canaries := []string{
		// The README's Patient.
		"Chalmers", "peter.chalmers@example.org", "534 Erewhon St", "5555 6473", "PleasantVille", "1974-12-25",
		// The Bundle's.
		"Zzfanout", "maya.fanout@example.org", "1 Zzstreet", "555 0100", "Zzpostpartum", "MRN-FAN-1", "1991-07-12",
	}
	for _, c := range canaries {
		if !strings.Contains(sent, c) {
			t.Fatalf("canary %q is no longer in the walkthrough: update the list", c)
		}
	}
	// As a URL or a form would carry them.
	return append(canaries, "peter.chalmers%40example.org", "maya.fanout%40example.org", "534+Erewhon", "534%20Erewhon")
}

// scanForCanaries reads every regular file under path (or the file path)
// and fails on any canary, in any case. It returns the files read.
func scanForCanaries(t *testing.T, path string, canaries []string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil // folders; var/bin's links to the test's binaries
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		n++
		lower := bytes.ToLower(b)
		for _, c := range canaries {
			if i := bytes.Index(lower, bytes.ToLower([]byte(c))); i >= 0 {
				t.Errorf("%s holds %q: %q", p, c, around(b, i, len(c)))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func around(b []byte, i, n int) string {
	from, to := max(0, i-60), min(len(b), i+n+60)
	return string(b[from:to])
}

// checkOwnerOnly fails on a file or folder under dir that its group or
// others may use.
func checkOwnerOnly(t *testing.T, dir string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s: mode %v, want the owner's alone (0600 files, 0700 folders)", p, fi.Mode().Perm())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// shell is one bash session, like a terminal: variables set by one block
// are there for the next.
type shell struct {
	cmd   *exec.Cmd
	in    io.WriteCloser
	lines chan string
	dir   string // where the blocks are written
}

const (
	blockEnd    = "\x1fREADME-BLOCK-END"
	blockFailed = "\x1fREADME-COMMAND-FAILED"
)

func startShell(t *testing.T, cwd string, env []string, blocks string) *shell {
	t.Helper()
	if err := os.MkdirAll(blocks, 0o700); err != nil {
		t.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", "--noprofile", "--norc")
	cmd.Dir = cwd
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = w, w
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	s := &shell{cmd: cmd, in: in, lines: make(chan string, 1024), dir: blocks}
	go func() {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
		close(s.lines)
	}()
	t.Cleanup(s.close)
	// A failed command (not one tested by if, && or ||) is reported, as a
	// user would see it fail; pipelines fail when any part does.
	fmt.Fprintf(in, "set -o pipefail\ntrap 'printf \"\\n%s %%s: %%s\\n\" \"$?\" \"$BASH_COMMAND\"' ERR\n", blockFailed)
	return s
}

// run runs one block (sourced, so its variables stay) and returns what it
// printed, and the first failed command, if any.
func (s *shell) run(t *testing.T, i int, script string, timeout time.Duration) (output, failed string) {
	t.Helper()
	path := filepath.Join(s.dir, fmt.Sprintf("block-%02d.sh", i))
	if err := os.WriteFile(path, []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(s.in, "source %s </dev/null\nprintf '\\n%s\\n'\n", path, blockEnd)
	var b strings.Builder
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		select {
		case l, ok := <-s.lines:
			if !ok {
				t.Fatalf("bash ended while running:\n%s\noutput:\n%s", script, b.String())
			}
			switch {
			case l == blockEnd:
				return strings.TrimSuffix(b.String(), "\n"), failed
			case strings.HasPrefix(l, blockFailed):
				if failed == "" {
					failed = strings.TrimSpace(strings.TrimPrefix(l, blockFailed))
				}
			default:
				b.WriteString(l + "\n")
			}
		case <-timer.C:
			t.Fatalf("still running after %s:\n%s\noutput so far:\n%s", timeout, script, b.String())
		}
	}
}

func (s *shell) close() {
	if s.cmd.ProcessState != nil {
		return
	}
	s.in.Close()
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// envFile reads the KEY=VALUE lines of a file vendorsim -env-file wrote.
func envFile(t *testing.T, path string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			out[k] = v
		}
	}
	return out
}
