package testenv

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// StripeMockVersion is the stripe-mock release the tests run against.
const StripeMockVersion = "v0.203.0"

var stripeInstall sync.Mutex

// StripeMock starts stripe-mock on loopback for this test and returns its
// base URL. stripe-mock validates every request against Stripe's OpenAPI
// spec (400 on an unknown or mistyped parameter) but stores nothing.
func StripeMock(t testing.TB) string {
	t.Helper()
	bin := stripeMockBin(t)
	port, tlsPort := FreePort(t), FreePort(t)
	cmd := exec.Command(bin, "-http-addr", fmt.Sprintf("127.0.0.1:%d", port), "-https-addr", fmt.Sprintf("127.0.0.1:%d", tlsPort))
	if err := cmd.Start(); err != nil {
		t.Fatalf("testenv: start stripe-mock: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequest(http.MethodGet, url+"/v1/customers", nil)
		req.Header.Set("Authorization", "Bearer sk_test_123")
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return url
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("testenv: stripe-mock did not answer on %s", url)
	return ""
}

func stripeMockBin(t testing.TB) string {
	t.Helper()
	if b := os.Getenv("STRIPE_MOCK_BIN"); b != "" {
		return b
	}
	stripeInstall.Lock()
	defer stripeInstall.Unlock()
	bin := filepath.Join(RepoRoot(t), ".cache", "bin", "stripe-mock")
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	if p, err := exec.LookPath("stripe-mock"); err == nil {
		return p
	}
	cmd := exec.Command("go", "install", "github.com/stripe/stripe-mock@"+StripeMockVersion)
	cmd.Env = append(os.Environ(), "GOBIN="+filepath.Dir(bin))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("testenv: go install stripe-mock@%s: %v\n%s", StripeMockVersion, err, out)
	}
	return bin
}
