package console_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"github.com/switchboard-health/switchboard/hub/console"
	"github.com/switchboard-health/switchboard/hub/testenv"
)

func TestHandlerServesFilesWithStrictHeaders(t *testing.T) {
	srv := httptest.NewServer(console.Handler())
	defer srv.Close()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	tests := []struct {
		method, path string
		status       int
		contentType  string // prefix
		cache        string
		location     string
	}{
		{"GET", "/console/", 200, "text/html", "no-store", ""},
		{"GET", "/console/app.js", 200, "text/javascript", "no-cache", ""},
		{"GET", "/console/failures.js", 200, "text/javascript", "no-cache", ""},
		{"GET", "/console/app.css", 200, "text/css", "no-cache", ""},
		{"HEAD", "/console/", 200, "text/html", "no-store", ""},
		{"GET", "/console", 301, "", "", "/console/"},
		{"GET", "/console/nope.js", 404, "", "", ""},
		{"GET", "/console/.hidden", 404, "", "", ""},
		{"GET", "/console/static/app.js", 404, "", "", ""},
		{"GET", "/elsewhere", 404, "", "", ""},
		{"POST", "/console/", 405, "", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, srv.URL+tc.path, nil)
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			// Every answer, errors included, carries the strict headers.
			h := resp.Header
			if got := h.Get("Content-Security-Policy"); !strings.Contains(got, "default-src 'self'") || !strings.Contains(got, "frame-ancestors 'none'") {
				t.Errorf("Content-Security-Policy = %q", got)
			}
			if got := h.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options = %q", got)
			}
			if got := h.Get("Referrer-Policy"); got != "no-referrer" {
				t.Errorf("Referrer-Policy = %q", got)
			}
			if tc.contentType != "" && !strings.HasPrefix(h.Get("Content-Type"), tc.contentType) {
				t.Errorf("Content-Type = %q, want %s...", h.Get("Content-Type"), tc.contentType)
			}
			if tc.cache != "" && h.Get("Cache-Control") != tc.cache {
				t.Errorf("Cache-Control = %q, want %q", h.Get("Cache-Control"), tc.cache)
			}
			if tc.location != "" && h.Get("Location") != tc.location {
				t.Errorf("Location = %q, want %q", h.Get("Location"), tc.location)
			}
		})
	}
}

// TestStaticFilesLoadNothingFromElsewhere keeps the CSP honest: no CDN, no
// web font, no inline script or style that default-src 'self' would block.
func TestStaticFilesLoadNothingFromElsewhere(t *testing.T) {
	dir := filepath.Join("static")
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		text := string(b)
		for _, bad := range []string{"http://", "https://", "//cdn", "@import", "@font-face", ".innerHTML", ".outerHTML", "insertAdjacentHTML", "document.write", "eval(", "confirm(", "alert(", "style=\""} {
			if strings.Contains(text, bad) {
				t.Errorf("%s contains %q", path, bad)
			}
		}
		if strings.HasSuffix(path, ".html") && strings.Count(text, "<script") != strings.Count(text, "<script type=\"module\" src=") {
			t.Errorf("%s has an inline script", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestConsoleInBrowser drives the console in headless chromium against the
// fake hub: an admin bulk-replays the failures of one destination and
// pauses one, an auditor filters, exports and verifies the transfer log.
func TestConsoleInBrowser(t *testing.T) {
	start := time.Now()
	hub := newFakeHub()
	mux := http.NewServeMux()
	mux.Handle("/console/", console.Handler())
	hub.routes(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	ctx, cancel := context.WithTimeout(testenv.Browser(t), 2*time.Minute)
	defer cancel()
	downloads := t.TempDir()
	if _, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: downloads,
	}); err != nil {
		t.Fatal(err)
	}
	problems := watchConsole(ctx)
	b := &tab{&testenv.Page{T: t, Ctx: ctx}}

	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(srv.URL+"/console/"))
	if err != nil {
		t.Fatal(err)
	}
	if csp := header(resp.Headers, "Content-Security-Policy"); !strings.HasPrefix(csp, "default-src 'self'; frame-ancestors 'none'") {
		t.Fatalf("the console page's Content-Security-Policy is %q", csp)
	}

	// A wrong token is refused with the hub's diagnostics.
	b.signIn("sb_cl_0000000000000000_wrong")
	b.Until("the refusal", `document.getElementById('signin-error').textContent.includes('not accepted')`)

	// Admin: failed syncs, health and queue; no transfer log.
	b.signIn(adminToken)
	b.Until("the admin signed in", `document.getElementById('whoami-name').textContent === 'Ops Admin'`)
	b.equal("role", b.text("whoami-role"), "admin")
	b.equal("tabs shown to an admin", b.visibleTabs(), "tab-failures tab-health tab-queue")
	b.equal("token in sessionStorage", b.Eval(`sessionStorage.getItem('switchboard.token')`), adminToken)
	waitCalled(t, hub, "POST /console/session admin")

	b.Until("the first page", rowCount("failure-row")+` === 50 && !document.getElementById('failures-more').hidden`)
	b.click("failures-more")
	b.Until("the second page", rowCount("failure-row")+` === 60 && document.getElementById('failures-more').hidden`)

	b.Do("filter by destination", chromedp.SetValue(chromedp.ID("f-destination"), "ehr-epic"), chromedp.Click(chromedp.ID("failures-apply")))
	b.Until("the filtered table", rowCount("failure-row")+` === 50 && [...document.querySelectorAll('[data-testid=failure-row]')].every(r => r.dataset.id.endsWith(':ehr-epic'))`)

	b.Do("open details", chromedp.Click(chromedp.CSS(`[data-testid=failure-row] [data-testid=failure-details]`)))
	b.Until("the history", `document.getElementById('modal').open && `+rowCount("history-row")+` === 2`)
	b.click("modal-cancel")
	b.Until("the details closed", `!document.getElementById('modal').open`)
	testenv.Screenshot(t, ctx, "console-failures")

	b.click("replay-all")
	b.Until("the confirmation", `document.getElementById('modal').open`)
	b.equal("confirmation title", b.text("modal-title"), "Replay 50 failed syncs?")
	testenv.Screenshot(t, ctx, "console-replay-confirm")
	if got := len(hub.failuresTo("ehr-epic")); got != 50 {
		t.Fatalf("the dry run changed the hub: %d failures left to ehr-epic, want 50", got)
	}
	b.click("modal-confirm")
	b.Until("the result", `document.getElementById('failures-result').textContent.includes('replayed 50, gone 0')`)
	b.Until("the refreshed, empty table", rowCount("failure-row")+` === 0 && !document.getElementById('failures-empty').hidden`)
	if got := len(hub.failuresTo("ehr-epic")); got != 0 {
		t.Fatalf("%d failures left to ehr-epic after the replay, want 0", got)
	}
	for _, body := range hub.bulkBodies() {
		if body.Filter == nil || body.Filter.Destination != "ehr-epic" || len(body.IDs) != 0 {
			t.Fatalf("bulk replay body %+v: want the filter destination=ehr-epic and no ids", body)
		}
	}

	// One row: a dry-run preview with field names, then the replay.
	b.click("failures-reset")
	b.Until("the unfiltered table", rowCount("failure-row")+` === 10`)
	b.equal("replay of a purged payload", b.Eval(`String(document.querySelector('[data-id="tr_0059:0:crm-hubspot"] [data-testid=failure-replay]').disabled)`), "true")
	b.Do("replay one", chromedp.Click(chromedp.CSS(`[data-id="tr_0050:0:crm-hubspot"] [data-testid=failure-replay]`)))
	b.Until("the preview", `document.getElementById('modal').open && `+rowCount("dry-run-field")+` === 2`)
	b.equal("preview fields", b.Eval(`[...document.querySelectorAll('[data-testid=dry-run-field]')].map(r => r.innerText.replace(/\s+/g, ' ').trim()).join('; ')`), "Appointment.name changed; Appointment.birthDate unchanged")
	b.click("modal-confirm")
	b.Until("the single replay", `document.getElementById('failures-result').textContent.includes('replayed 1') && `+rowCount("failure-row")+` === 9`)

	// Health: a card per destination, coloured by breaker; pause one.
	b.click("tab-health")
	b.Until("the health cards", rowCount("health-card")+` === 3`)
	b.equal("ehr-epic breaker", b.Eval(card("ehr-epic")+`.dataset.breaker`), "open")
	b.equal("ehr-epic success rate", b.Eval(card("ehr-epic")+`.querySelector('[data-testid=success-rate]').textContent`), "42.0%")
	b.equal("no tries, no rate", b.Eval(card("billing-candid")+`.querySelector('[data-testid=success-rate]').textContent`), "\u2014")
	b.Do("pause ehr-epic", chromedp.Click(chromedp.CSS(`[data-destination="ehr-epic"] [data-testid=health-pause]`)))
	b.Until("the pause confirmation", `document.getElementById('modal').open`)
	b.click("modal-confirm")
	b.Until("ehr-epic paused", card("ehr-epic")+`.dataset.paused === 'true' && !!`+card("ehr-epic")+`.querySelector('[data-testid=health-resume]')`)
	testenv.Screenshot(t, ctx, "console-health")

	b.click("signout")
	b.Until("the sign-in form", `!document.getElementById('panel-signin').hidden && document.getElementById('tabs').hidden`)
	b.equal("token after sign-out", b.Eval(`String(sessionStorage.getItem('switchboard.token'))`), "null")
	waitCalled(t, hub, "DELETE /console/session admin")

	// Auditor: the transfer log only.
	b.signIn(auditorToken)
	b.Until("the auditor signed in", `document.getElementById('whoami-name').textContent === 'Compliance Auditor'`)
	b.equal("tabs shown to an auditor", b.visibleTabs(), "tab-log")
	b.Until("the log", rowCount("log-row")+` === 30`)
	b.Do("filter the log",
		chromedp.SetValue(chromedp.ID("l-event"), "delivery_attempt"),
		chromedp.SetValue(chromedp.ID("l-outcome"), "failed"),
		chromedp.Click(chromedp.ID("log-apply")))
	b.Until("the filtered log", rowCount("log-row")+` === 10`)

	b.click("log-export-ndjson")
	b.Until("the NDJSON export", `document.getElementById('log-export-status').dataset.bytes > 0`)
	q := exportQuery(t, hub, "ndjson")
	if q.Get("event") != "delivery_attempt" || q.Get("outcome") != "failed" {
		t.Fatalf("export query %v: want the table's filter", q)
	}
	lines := readDownload(t, downloads, ".ndjson")
	if len(lines) != 10 {
		t.Fatalf("the NDJSON file has %d lines, want 10", len(lines))
	}
	for _, line := range lines {
		var row logRow
		if err := json.Unmarshal([]byte(line), &row); err != nil || row.Event != "delivery_attempt" || row.Outcome != "failed" {
			t.Fatalf("NDJSON line %q (%v): want a failed delivery_attempt row", line, err)
		}
	}
	b.click("log-export-csv")
	if lines := readDownload(t, downloads, ".csv"); len(lines) != 11 {
		t.Fatalf("the CSV file has %d lines, want a header and 10 rows", len(lines))
	}

	b.click("log-verify")
	b.Until("the verification", `document.getElementById('log-verify-result').dataset.ok === 'true'`)
	if got := b.text("log-verify-result"); !strings.HasPrefix(got, "Chain intact: 30 rows verified.") {
		t.Fatalf("verify result %q", got)
	}
	testenv.Screenshot(t, ctx, "console-log")

	// A 1280 px wide window (a common laptop): the transfer log fits, its
	// last column on screen and the table not scrolled sideways (its
	// "Error class" column was cut off here).
	b.Do("a 1280 px window", chromedp.EmulateViewport(1280, 800))
	b.Do("the unfiltered log", chromedp.Click(chromedp.ID("log-reset")))
	b.Until("the log", rowCount("log-row")+` === 30`)
	testenv.Screenshot(t, ctx, "console-log-1280")
	if got := b.Eval(`(() => {
		const wrap = document.getElementById('log-table').closest('.table-wrap');
		const heads = [...document.querySelectorAll('#log-table thead th')];
		const view = Math.min(window.innerWidth, document.documentElement.clientWidth, wrap.getBoundingClientRect().right);
		const out = heads.filter(h => h.getBoundingClientRect().right > view + 0.5).map(h => h.textContent);
		if (wrap.scrollWidth > wrap.clientWidth + 1) out.push('scrolls sideways by ' + (wrap.scrollWidth - wrap.clientWidth) + ' px');
		if (window.innerWidth !== 1280) out.push('window ' + window.innerWidth + ' px wide');
		return out.join('; ');
	})()`); got != "" {
		t.Fatalf("at 1280 px the transfer log does not fit: %s", got)
	}

	if p := problems(); len(p) > 0 {
		t.Fatalf("the page reported errors:\n%s", strings.Join(p, "\n"))
	}
	t.Logf("browser test took %s", time.Since(start).Round(time.Millisecond))
}

// tab drives one page; every helper fails the test with what it waited for.
type tab struct{ *testenv.Page }

func (b *tab) click(id string) {
	b.T.Helper()
	b.Do("click #"+id, chromedp.Click(chromedp.ID(id)))
}

func (b *tab) signIn(token string) {
	b.T.Helper()
	b.Eval(`document.getElementById('signin-token').value = ''`)
	b.Do("sign in",
		chromedp.SendKeys(chromedp.ID("signin-token"), token),
		chromedp.Click(chromedp.ID("signin-submit")))
}

func (b *tab) text(id string) string {
	b.T.Helper()
	return b.Eval(fmt.Sprintf(`document.getElementById(%q).textContent`, id))
}

func (b *tab) visibleTabs() string {
	b.T.Helper()
	return b.Eval(`[...document.querySelectorAll('#tabs .tab')].filter(t => !t.hidden).map(t => t.id).join(' ')`)
}

func (b *tab) equal(what, got, want string) {
	b.T.Helper()
	if got != want {
		b.T.Fatalf("%s: got %q, want %q", what, got, want)
	}
}

func rowCount(testid string) string {
	return fmt.Sprintf(`document.querySelectorAll('[data-testid=%s]').length`, testid)
}

func card(dest string) string {
	return fmt.Sprintf(`document.querySelector('[data-testid=health-card][data-destination=%q]')`, dest)
}

// watchConsole collects uncaught exceptions and security (CSP) messages of
// the page; the returned func reads them.
func watchConsole(ctx context.Context) func() []string {
	var mu sync.Mutex
	var seen []string
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.IsException() || m.Source == "security" || strings.Contains(m.Text, "Content Security Policy") {
				mu.Lock()
				seen = append(seen, m.String())
				mu.Unlock()
			}
		}
	}()
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), seen...)
	}
}

func header(h map[string]any, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			s, _ := v.(string)
			return s
		}
	}
	return ""
}

func waitCalled(t *testing.T, hub *fakeHub, call string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if len(hub.called(call)) > 0 {
			return
		}
	}
	t.Fatalf("the console never called %q", call)
}

func exportQuery(t *testing.T, hub *fakeHub, format string) url.Values {
	t.Helper()
	for _, c := range hub.called("GET /audit/export?") {
		c = strings.TrimSuffix(c, " auditor")
		q, err := url.ParseQuery(strings.TrimPrefix(c, "GET /audit/export?"))
		if err == nil && q.Get("format") == format {
			return q
		}
	}
	t.Fatalf("no %s export by the auditor in %q", format, hub.called("GET /audit/export"))
	return nil
}

// readDownload waits for a finished download whose name ends in suffix and
// returns its lines.
func readDownload(t *testing.T, dir, suffix string) []string {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		matches, _ := filepath.Glob(filepath.Join(dir, "switchboard-transfer-log-*"+suffix))
		if len(matches) == 0 {
			continue
		}
		f, err := os.Open(matches[0])
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		var lines []string
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			lines = append(lines, sc.Text())
		}
		if err := sc.Err(); err != nil && err != io.EOF {
			t.Fatal(err)
		}
		return lines
	}
	entries, _ := os.ReadDir(dir)
	t.Fatalf("no %s download in %s (has %v)", suffix, dir, entries)
	return nil
}
