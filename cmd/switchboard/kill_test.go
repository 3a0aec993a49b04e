package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/switchboard-health/switchboard/hub/config"
	"github.com/switchboard-health/switchboard/hub/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// buildBinaries compiles switchboard and vendorsim once per test binary.
var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

func binaries(t *testing.T) (hub, sim string) {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "switchboard-bin")
		if buildErr != nil {
			return
		}
		for _, pkg := range []string{".", "../vendorsim"} {
			out := filepath.Join(binDir, filepath.Base(map[string]string{".": "switchboard", "../vendorsim": "vendorsim"}[pkg]))
			cmd := exec.Command("go", "build", "-o", out, pkg)
			if b, err := cmd.CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(binDir, "switchboard"), filepath.Join(binDir, "vendorsim")
}

type proc struct {
	cmd *exec.Cmd
	log *os.File
}

func startProc(t *testing.T, logPath string, env []string, name string, args ...string) *proc {
	t.Helper()
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, log: f}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		f.Close()
	})
	return p
}

// startSim starts vendorsim's EHR on a free port, logging into dir, and
// returns its base URL once it answers.
func startSim(t *testing.T, simBin, dir string) string {
	t.Helper()
	port := testenv.FreePort(t)
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	startProc(t, filepath.Join(dir, "vendorsim.log"), nil, simBin, "-addr", fmt.Sprintf("127.0.0.1:%d", port))
	waitHTTP(t, url+"/_sandbox/stats", 10*time.Second)
	return url
}

func waitHTTP(t *testing.T, url string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s did not become ready in %s", url, timeout)
}

type simLog struct {
	Requests []struct {
		Path           string `json:"path"`
		IdempotencyKey string `json:"idempotency_key"`
		Effect         string `json:"effect"`
	} `json:"requests"`
	DuplicateEffects int `json:"duplicate_effects"`
}

// created counts Patient creations at the sandbox and the distinct keys behind them.
func created(t *testing.T, simURL string) (n int, keys map[string]int, dup int) {
	t.Helper()
	resp, err := http.Get(simURL + "/_sandbox/log")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var l simLog
	if err := json.NewDecoder(resp.Body).Decode(&l); err != nil {
		t.Fatal(err)
	}
	keys = map[string]int{}
	for _, r := range l.Requests {
		if r.Effect == "created" {
			n++
			keys[r.IdempotencyKey]++
		}
	}
	return n, keys, l.DuplicateEffects
}

// After a batch of accepted writes, the hub is SIGKILLed before it has
// delivered them, then restarted: every write reaches the EHR sandbox
// exactly once.
func TestSIGKILLAfterAcceptLosesAndDuplicatesNothing(t *testing.T) {
	for _, dialect := range []string{"sqlite", "postgres"} {
		t.Run(dialect, func(t *testing.T) { killAndRestart(t, dialect) })
	}
}

func killAndRestart(t *testing.T, dialect string) {
	const total = 1000
	hubBin, simBin := binaries(t)
	dir := t.TempDir()
	simPort, hubPort := testenv.FreePort(t), testenv.FreePort(t)
	simURL := fmt.Sprintf("http://127.0.0.1:%d", simPort)
	hubURL := fmt.Sprintf("http://127.0.0.1:%d", hubPort)

	startProc(t, filepath.Join(dir, "vendorsim.log"), nil, simBin, "-addr", fmt.Sprintf("127.0.0.1:%d", simPort))
	waitHTTP(t, simURL+"/_sandbox/stats", 10*time.Second)
	// Slow the EHR so deliveries are still queued and in flight at the kill.
	setFaults(t, simURL, `{"latency_ms": 40}`)

	routes := fmt.Sprintf("destinations:\n  ehr:\n    type: fhir\n    rate_limit: {per_second: 1000000, burst: 1000000}\n    max_workers: 8\n    config: {base_url: %q}\nroutes:\n  - {resource: Patient, to: [ehr]}\n", simURL+"/fhir/R4")
	if err := os.WriteFile(filepath.Join(dir, "routes.yaml"), []byte(routes), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{
		"SWITCHBOARD_ADDR=127.0.0.1:" + fmt.Sprint(hubPort),
		"SWITCHBOARD_ROUTES=" + filepath.Join(dir, "routes.yaml"),
		"SWITCHBOARD_RETRY_BASE=200ms",
		// The load is one client and one webhook source: out of reach of
		// the inbound limits, which are not what is tested here.
		"SWITCHBOARD_CLIENT_RATE=1000000", "SWITCHBOARD_CLIENT_BURST=1000000",
		"SWITCHBOARD_WEBHOOK_RATE=1000000", "SWITCHBOARD_WEBHOOK_BURST=1000000",
		"SWITCHBOARD_DELIVERY_TIMEOUT=2s",
		"SWITCHBOARD_RESCUE_AFTER=3s",
		"SWITCHBOARD_DEV_KEYS=" + filepath.Join(dir, "dev-keys.env"),
		"SWITCHBOARD_SQLITE_PATH=" + filepath.Join(dir, "var", "switchboard.db"),
	}
	if dialect == "postgres" {
		s, m, _ := config.NewKeySpecs(time.Now())
		env = append(env, "DATABASE_URL="+testenv.Postgres(t), "SWITCHBOARD_SEAL_KEYS="+s, "SWITCHBOARD_HMAC_KEY="+m)
	}
	hubLog := filepath.Join(dir, "hub.log")
	first := startProc(t, hubLog, env, hubBin, "serve")
	waitHTTP(t, hubURL+"/readyz", 30*time.Second)
	token := createClient(t, hubBin, env, "system/Patient.c")

	var accepted atomic.Int64
	var wg sync.WaitGroup
	next := atomic.Int64{}
	client := &http.Client{Timeout: 10 * time.Second}
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > total {
					return
				}
				body := fmt.Sprintf(`{"resourceType":"Patient","identifier":[{"system":"https://kill.test/id","value":"p%d"}],"name":[{"family":"Kill%d"}]}`, i, i)
				req, _ := http.NewRequest(http.MethodPost, hubURL+"/fhir/R4/Patient", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/fhir+json")
				req.Header.Set("Idempotency-Key", fmt.Sprintf("kill-%d", i))
				req.Header.Set("Authorization", "Bearer "+token)
				resp, err := client.Do(req)
				if err != nil {
					t.Errorf("POST %d: %v", i, err)
					return
				}
				resp.Body.Close()
				if resp.StatusCode == http.StatusAccepted {
					accepted.Add(1)
				} else {
					t.Errorf("POST %d: status %d", i, resp.StatusCode)
				}
			}
		}()
	}
	wg.Wait()
	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.cmd.Wait()
	if accepted.Load() != total {
		t.Fatalf("accepted %d of %d before the kill", accepted.Load(), total)
	}
	atKill, _, _ := created(t, simURL)
	t.Logf("%s: %d of %d delivered when the hub was killed", dialect, atKill, total)
	if atKill >= total {
		t.Fatalf("everything was delivered before the kill; the test proves nothing (raise the sandbox latency)")
	}

	setFaults(t, simURL, `{"latency_ms": 0}`)
	startProc(t, hubLog, env, hubBin, "serve")
	waitHTTP(t, hubURL+"/readyz", 30*time.Second)

	deadline := time.Now().Add(120 * time.Second)
	var n, dup int
	var keys map[string]int
	for time.Now().Before(deadline) {
		n, keys, dup = created(t, simURL)
		if len(keys) >= total {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	// Give any stray duplicate a moment to show up before judging.
	time.Sleep(time.Second)
	n, keys, dup = created(t, simURL)
	if len(keys) != total || n != total || dup != 0 {
		t.Fatalf("after restart: %d creations over %d distinct keys (want %d each), %d duplicate effects", n, len(keys), total, dup)
	}
	for k, c := range keys {
		if c != 1 {
			t.Fatalf("key %s created %d times", k, c)
		}
	}
	b, _ := os.ReadFile(hubLog)
	if strings.Contains(string(b), "Kill1") {
		t.Fatal("PHI in the hub's log")
	}
}

func setFaults(t *testing.T, simURL, faults string) {
	t.Helper()
	resp, err := http.Post(simURL+"/_sandbox/faults", "application/json", strings.NewReader(faults))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		t.Fatalf("faults: %d", resp.StatusCode)
	}
}

// createClient makes an app client with `switchboard clients create`, as an
// operator would, and returns its token.
func createClient(t *testing.T, hubBin string, env []string, scope string) string {
	t.Helper()
	cmd := exec.Command(hubBin, "clients", "create", "--name", "test app", "--role", "app", "--scope", scope)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("clients create: %v\n%s", err, out)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if tok, ok := strings.CutPrefix(l, "token: "); ok {
			return strings.TrimSpace(tok)
		}
	}
	t.Fatalf("clients create printed no token:\n%s", out)
	return ""
}
