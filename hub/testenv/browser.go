package testenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromiumHint is how to get the browser; the tests never skip without it.
const chromiumHint = "run make test (it installs chromium) or apt-get install -y chromium"

// Browser starts a headless Debian chromium for this test only and returns a
// chromedp context for one tab in it. The browser is killed and its profile
// removed in t.Cleanup. Each test gets a fresh --user-data-dir, so cookies and
// sessionStorage never leak between tests.
//
// The binary is $SWITCHBOARD_CHROMIUM, else chromium or chromium-browser on
// PATH, else /usr/bin/chromium. A missing binary fails the test with the
// command that installs it; it never skips. The flags are the ones that
// work on these machines as root (see ENV-NOTES.md, "Browser tests"); a
// test tool's own browser download does not.
func Browser(t testing.TB) context.Context {
	t.Helper()
	bin, err := chromiumPath()
	if err != nil {
		t.Fatalf("testenv: %v: %s", err, chromiumHint)
	}
	profile := filepath.Join(t.TempDir(), "chromium-profile")

	var out lockedBuffer
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin),
		chromedp.Flag("headless", true),
		// Root in a container has no user namespace for the sandbox.
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		// No traffic the test did not ask for: updates, sync, safe browsing.
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("mute-audio", true),
		chromedp.UserDataDir(profile),
		// A desktop-sized window so screenshots show the layout people see.
		chromedp.WindowSize(1366, 900),
		chromedp.CombinedOutput(&out),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelTab()
		// Waits for the browser process to exit.
		cancelAlloc()
		if t.Failed() {
			t.Logf("testenv: chromium output:\n%s", tail(out.String(), 4000))
		}
		// Chromium's helper processes can still write into the profile for
		// a moment after the browser exits; t.TempDir's own removal does not
		// retry, so empty it here first.
		removeEventually(profile, 5*time.Second)
	})

	// Start the browser now, so a broken install fails here with its output
	// instead of in the first action of the test.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("testenv: start chromium (%s): %v\n%s", bin, err, tail(out.String(), 4000))
	}
	return ctx
}

// Screenshot writes a full-page PNG of the tab to var/artifacts/<name>.png
// under the repository root and logs its path. CI keeps var/artifacts, so a
// failing browser test leaves a picture of what the user would have seen.
func Screenshot(t testing.TB, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100 = PNG
	if err != nil {
		t.Fatalf("testenv: screenshot %s: %v", name, err)
	}
	dir := filepath.Join(RepoRoot(t), "var", "artifacts")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("testenv: screenshot %s: %v", name, err)
	}
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatalf("testenv: screenshot %s: %v", name, err)
	}
	t.Logf("testenv: screenshot %s", path)
}

// chromiumPath finds the browser binary (see Browser for the order).
func chromiumPath() (string, error) {
	if p := os.Getenv("SWITCHBOARD_CHROMIUM"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("SWITCHBOARD_CHROMIUM=%s: %w", p, err)
		}
		return p, nil
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	const fallback = "/usr/bin/chromium"
	if _, err := os.Stat(fallback); err == nil {
		return fallback, nil
	}
	return "", errors.New("chromium not found ($SWITCHBOARD_CHROMIUM unset, no chromium or chromium-browser on PATH, no /usr/bin/chromium)")
}

func removeEventually(dir string, limit time.Duration) {
	deadline := time.Now().Add(limit)
	for {
		err := os.RemoveAll(dir)
		if err == nil || time.Now().After(deadline) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// tail returns the last n bytes of s, cut at a line start.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[len(s)-n:]
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return "..." + "\n" + s
}
