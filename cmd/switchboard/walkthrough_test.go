package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/switchboard-health/switchboard/hub/testenv"
)

// The README's walkthrough, run as written: `make run`'s script starts the
// hub and the sandboxes, the README's curl command posts the Patient, and
// the transfer must be final within 2 seconds (the EHR and Stripe
// delivered, marketing skipped for want of consent); then the README's
// transaction Bundle reaches all five sandboxes.
func TestReadmeWalkthrough(t *testing.T) {
	root := testenv.RepoRoot(t)
	hubBin, simBin := binaries(t)
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	// The first shell block that posts a Patient.
	blocks := regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(string(readme), -1)
	var curl string
	for _, b := range blocks {
		if strings.Contains(b[1], "curl -si http://127.0.0.1:8080/fhir/R4/Patient") {
			curl = b[1]
			break
		}
	}
	if curl == "" {
		t.Fatal("README has no curl walkthrough posting a Patient")
	}

	dir := t.TempDir()
	tokens := filepath.Join(dir, "dev-tokens.env")
	if err := os.Symlink(hubBin, filepath.Join(dir, "switchboard")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(simBin, filepath.Join(dir, "vendorsim")); err != nil {
		t.Fatal(err)
	}
	hubPort, ehrPort, stripePort := testenv.FreePort(t), testenv.FreePort(t), testenv.FreePort(t)
	calPort, candidPort, hubspotPort := testenv.FreePort(t), testenv.FreePort(t), testenv.FreePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", hubPort)
	cmd := exec.Command("bash", filepath.Join(root, "scripts", "run.sh"))
	cmd.Dir = root
	cmd.Env = append(os.Environ(),
		"BIN="+dir,
		"SWITCHBOARD_ADDR="+addr,
		fmt.Sprintf("EHR_PORT=%d", ehrPort),
		fmt.Sprintf("CALCOM_PORT=%d", calPort),
		fmt.Sprintf("CANDID_PORT=%d", candidPort),
		fmt.Sprintf("HUBSPOT_PORT=%d", hubspotPort),
		fmt.Sprintf("STRIPE_MOCK_PORT=%d", stripePort),
		fmt.Sprintf("STRIPE_MOCK_HTTPS_PORT=%d", testenv.FreePort(t)),
		"SWITCHBOARD_SQLITE_PATH="+filepath.Join(dir, "switchboard.db"),
		"SWITCHBOARD_DEV_KEYS="+filepath.Join(dir, "dev-keys.env"),
		"SWITCHBOARD_DEV_TOKENS="+tokens,
	)
	if b := os.Getenv("STRIPE_MOCK_BIN"); b != "" {
		cmd.Env = append(cmd.Env, "STRIPE_MOCK_BIN="+b)
	}
	out, err := os.Create(filepath.Join(dir, "run.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "run.log"))
			t.Logf("make run output:\n%s", b)
		}
	})
	waitHTTP(t, "http://"+addr+"/readyz", 60*time.Second)

	// The README's `source var/dev-tokens.env`, from where this run keeps them.
	curl = strings.ReplaceAll(strings.ReplaceAll(curl, "127.0.0.1:8080", addr), "var/dev-tokens.env", tokens)
	appToken := devToken(t, tokens, "SWITCHBOARD_APP_TOKEN")
	res, err := exec.Command("bash", "-c", curl).CombinedOutput()
	if err != nil {
		t.Fatalf("curl: %v\n%s", err, res)
	}
	m := regexp.MustCompile(`(?i)content-location: (/transfers/tr_[0-9a-f]+)`).FindStringSubmatch(string(res))
	if m == nil || !strings.Contains(string(res), " 202") {
		t.Fatalf("want 202 with Content-Location:\n%s", res)
	}
	accepted := time.Now()
	for {
		resp, err := getWithToken("http://"+addr+m[1], appToken)
		if err != nil {
			t.Fatal(err)
		}
		var st struct {
			State      string `json:"state"`
			Deliveries []struct {
				Destination string `json:"destination"`
				State       string `json:"state"`
			} `json:"deliveries"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		if st.State == "delivered" {
			want := map[string]string{"ehr": "delivered", "payments": "delivered", "marketing": "skipped"}
			for _, d := range st.Deliveries {
				if want[d.Destination] != d.State {
					t.Fatalf("want the EHR and Stripe delivered, marketing skipped: %+v", st)
				}
				delete(want, d.Destination)
			}
			if len(want) != 0 {
				t.Fatalf("missing deliveries %v: %+v", want, st)
			}
			t.Logf("final %s after the 202", time.Since(accepted).Round(time.Millisecond))
			break
		}
		if time.Since(accepted) > 2*time.Second {
			t.Fatalf("not delivered within 2 seconds: %+v", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The EHR sandbox holds the Patient.
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/_sandbox/log", ehrPort))
	if err != nil {
		t.Fatal(err)
	}
	var l simLog
	_ = json.NewDecoder(resp.Body).Decode(&l)
	resp.Body.Close()
	created := 0
	for _, r := range l.Requests {
		if r.Effect == "created" {
			created++
		}
	}
	if created != 1 {
		t.Fatalf("EHR sandbox: %d creations, want 1", created)
	}

	// The transaction Bundle, as the README sends it.
	var bundleCurl string
	for _, b := range blocks {
		if strings.Contains(b[1], "curl -si http://127.0.0.1:8080/fhir/R4 ") {
			bundleCurl = "source " + tokens + "\n" + strings.ReplaceAll(b[1], "127.0.0.1:8080", addr)
		}
	}
	if bundleCurl == "" {
		t.Fatal("README has no curl walkthrough posting the transaction Bundle")
	}
	sh := exec.Command("bash", "-c", bundleCurl)
	sh.Dir = root
	res, err = sh.CombinedOutput()
	if err != nil {
		t.Fatalf("curl: %v\n%s", err, res)
	}
	m = regexp.MustCompile(`(?i)content-location: (/transfers/tr_[0-9a-f]+)`).FindStringSubmatch(string(res))
	if m == nil || !strings.Contains(string(res), " 202") {
		t.Fatalf("bundle: want 202 with Content-Location:\n%s", res)
	}
	accepted = time.Now()
	for {
		resp, err := getWithToken("http://"+addr+m[1], appToken)
		if err != nil {
			t.Fatal(err)
		}
		var st struct {
			State      string         `json:"state"`
			Counts     map[string]int `json:"counts"`
			Deliveries []struct {
				Destination string `json:"destination"`
				State       string `json:"state"`
				ErrorCode   string `json:"error_code"`
			} `json:"deliveries"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		if st.State != "" && st.State != "in-progress" {
			if st.State != "delivered" || st.Counts["delivered"] != 10 {
				t.Fatalf("bundle: %+v", st)
			}
			t.Logf("bundle: 10 deliveries to five vendors final %s after the 202", time.Since(accepted).Round(time.Millisecond))
			break
		}
		if time.Since(accepted) > 20*time.Second {
			t.Fatalf("bundle not final within 20 seconds: %+v", st)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for name, port := range map[string]int{"Cal.com": calPort, "Candid": candidPort, "HubSpot": hubspotPort} {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/_sandbox/log", port))
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
			t.Fatalf("%s sandbox: %d effects (%d duplicate), want 1", name, l.Effects, l.DuplicateEffects)
		}
	}

	// The admin and audit CLI against the running hub, with make run's tokens.
	adminTok, auditorTok := devToken(t, tokens, "SWITCHBOARD_ADMIN_TOKEN"), devToken(t, tokens, "SWITCHBOARD_AUDITOR_TOKEN")
	cli := func(token string, args ...string) string {
		t.Helper()
		c := exec.Command(hubBin, args...)
		c.Env = append(os.Environ(), "SWITCHBOARD_URL=http://"+addr, "SWITCHBOARD_TOKEN="+token)
		out, err := c.CombinedOutput()
		if err != nil {
			t.Fatalf("switchboard %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	if out := cli(adminTok, "admin", "health"); !strings.Contains(out, "ehr") || !strings.Contains(out, "closed") {
		t.Fatalf("admin health:\n%s", out)
	}
	checkpoint := filepath.Join(dir, "audit-checkpoint.json")
	if out := cli(auditorTok, "audit", "verify", "--checkpoint", checkpoint); !strings.HasPrefix(out, "ok: ") {
		t.Fatalf("audit verify:\n%s", out)
	}
	if out := cli(auditorTok, "audit", "export", "--event", "accepted"); strings.Count(out, "\n") < 2 {
		t.Fatalf("audit export: %q", out)
	}
	if out := cli(auditorTok, "audit", "verify", "--checkpoint", checkpoint); !strings.HasPrefix(out, "ok: ") {
		t.Fatalf("audit verify against its checkpoint:\n%s", out)
	}

}

// devToken reads one token from the tokens file `make run` writes.
func devToken(t *testing.T, path, variable string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "export "+variable+"="); ok {
			return v
		}
	}
	t.Fatalf("%s has no %s", path, variable)
	return ""
}

func getWithToken(url, token string) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	return http.DefaultClient.Do(req)
}
