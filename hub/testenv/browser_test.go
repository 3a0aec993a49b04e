package testenv

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"
)

func TestBrowserRunsPageScriptAndScreenshots(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><title>t</title><p id="out">waiting</p>
<script>document.getElementById("out").textContent = "ran " + (6 * 7);</script>`)
	}))
	defer srv.Close()

	ctx := Browser(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL)); err != nil {
		t.Fatal(err)
	}
	got, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("out")))
	if err != nil {
		t.Fatal(err)
	}
	if got != "ran 42" {
		t.Fatalf("page script: got %q, want %q", got, "ran 42")
	}

	Screenshot(t, ctx, "testenv-browser")
	png, err := os.ReadFile(filepath.Join(RepoRoot(t), "var", "artifacts", "testenv-browser.png"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatalf("screenshot is not a PNG (starts %q)", png[:min(8, len(png))])
	}
}

func TestChromiumPathHonoursEnv(t *testing.T) {
	t.Setenv("SWITCHBOARD_CHROMIUM", filepath.Join(t.TempDir(), "no-such-chromium"))
	if _, err := chromiumPath(); err == nil {
		t.Fatal("a missing $SWITCHBOARD_CHROMIUM was accepted")
	}
	bin := filepath.Join(t.TempDir(), "chromium")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SWITCHBOARD_CHROMIUM", bin)
	if got, err := chromiumPath(); err != nil || got != bin {
		t.Fatalf("chromiumPath() = %q, %v; want %q", got, err, bin)
	}
}
