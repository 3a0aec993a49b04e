package testenv

import (
	"bytes"
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

// stripeInstall serialises the lookup and `go install` of stripe-mock among
// the tests of one binary (parallel tests would otherwise race to install).
var stripeInstall sync.Mutex

// StripeMock starts a stripe-mock process for this test only, listening on
// 127.0.0.1, and returns its base URL (http://127.0.0.1:PORT). The process is
// killed in t.Cleanup; one per test keeps tests independent and costs about
// a second. stripe-mock validates every request against Stripe's OpenAPI
// spec (400 on an unknown or mistyped parameter, 401 without a
// `Bearer sk_test_...` key) but stores nothing: it echoes.
//
// The binary is $STRIPE_MOCK_BIN, else <root>/.cache/bin/stripe-mock, else
// stripe-mock on PATH, else it is installed into <root>/.cache/bin with
// `go install github.com/stripe/stripe-mock@v0.203.0`. A failure fails the
// test; it never skips.
func StripeMock(t testing.TB) string {
	t.Helper()
	bin := stripeMockBin(t)
	port := FreePort(t)
	tlsPort := FreePort(t)
	for tlsPort == port {
		tlsPort = FreePort(t)
	}
	// -http-addr/-https-addr, never -http-port: that one binds every address.
	cmd := exec.Command(bin,
		"-http-addr", fmt.Sprintf("127.0.0.1:%d", port),
		"-https-addr", fmt.Sprintf("127.0.0.1:%d", tlsPort))
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("testenv: start stripe-mock (%s): %v", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})

	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			exited <- err // let the cleanup's receive return
			t.Fatalf("testenv: stripe-mock exited before answering (%v):\n%s", err, out.String())
		default:
		}
		req, _ := http.NewRequest(http.MethodGet, url+"/v1/customers", nil)
		req.Header.Set("Authorization", "Bearer sk_test_123")
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return url
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("testenv: stripe-mock did not answer GET %s/v1/customers with 200 within 30s:\n%s", url, out.String())
	return ""
}

func stripeMockBin(t testing.TB) string {
	t.Helper()
	if b := os.Getenv("STRIPE_MOCK_BIN"); b != "" {
		if _, err := os.Stat(b); err != nil {
			t.Fatalf("testenv: STRIPE_MOCK_BIN=%s: %v", b, err)
		}
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
		t.Fatalf("testenv: stripe-mock not found ($STRIPE_MOCK_BIN, %s, PATH) and `go install github.com/stripe/stripe-mock@%s` failed (run `make test`, which installs it): %v\n%s",
			bin, StripeMockVersion, err, out)
	}
	return bin
}

// lockedBuffer collects a child's output, written by exec's copying
// goroutine while the test may read it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
