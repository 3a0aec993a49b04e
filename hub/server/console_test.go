package server_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/switchboard-health/switchboard/hub/testenv"
)

// TestConsoleBulkReplay is issue 4's acceptance driven from the web
// console in headless Chromium against a live hub: the EHR rejects 50
// deliveries, is fixed, and an admin replays all 50 by filter from the
// page, confirming the count; each is delivered exactly once, and an
// auditor signed in to the same console sees the replays in the log. The
// screenshots are kept in var/artifacts/.
func TestConsoleBulkReplay(t *testing.T) {
	h := startWith(t, dialectSQLite, adminRoutes)
	locs, canaries := h.failFifty()
	h.ehrFaults(`{"fail_next": 0}`)

	ctx, cancel := context.WithTimeout(testenv.Browser(t), 2*time.Minute)
	defer cancel()
	p := &page{t: t, ctx: ctx}
	p.do("open the console", chromedp.Navigate(h.url+"/console/"))
	p.signIn(h.adminToken)
	p.until("the admin signed in", `document.getElementById('whoami-role').textContent === 'admin'`)
	p.do("filter by destination", chromedp.SetValue(chromedp.ID("f-destination"), "ehr"), chromedp.Click(chromedp.ID("failures-apply")))
	p.until("50 failed syncs", `document.querySelectorAll('[data-testid=failure-row]').length === 50`)
	for _, c := range canaries {
		if p.eval(fmt.Sprintf(`String(document.body.innerHTML.includes(%q))`, c)) != "false" {
			t.Fatalf("canary %s on the page", c)
		}
	}
	testenv.Screenshot(t, ctx, "live-console-failures")
	p.do("replay all matching", chromedp.Click(chromedp.ID("replay-all")))
	p.until("the confirmation", `document.getElementById('modal').open`)
	if got := p.eval(`document.getElementById('modal-title').textContent`); got != "Replay 50 failed syncs?" {
		t.Fatalf("confirmation says %q", got)
	}
	testenv.Screenshot(t, ctx, "live-console-confirm")
	p.do("confirm", chromedp.Click(chromedp.ID("modal-confirm")))
	p.until("the result", `document.getElementById('failures-result').textContent.includes('replayed 50')`)
	h.replayedOnce(dialectSQLite, locs, canaries)
	p.do("reload", chromedp.Click(chromedp.ID("failures-apply")))
	p.until("no failed syncs left", `document.querySelectorAll('[data-testid=failure-row]').length === 0`)

	// The auditor's view of the same events.
	p.do("sign out", chromedp.Click(chromedp.ID("signout")))
	p.signIn(h.auditorToken)
	p.until("the auditor signed in", `document.getElementById('whoami-role').textContent === 'auditor'`)
	p.do("filter replays", chromedp.SetValue(chromedp.ID("l-event"), "replay"), chromedp.Click(chromedp.ID("log-apply")))
	p.until("50 replay rows", `document.querySelectorAll('[data-testid=log-row]').length === 50`)
	testenv.Screenshot(t, ctx, "live-console-log")
	p.do("verify", chromedp.Click(chromedp.ID("log-verify")))
	p.until("the chain verified", `document.getElementById('log-verify-result').dataset.ok === 'true'`)
}

// page drives one browser tab; each helper fails the test with what it
// waited for.
type page struct {
	t   *testing.T
	ctx context.Context
}

func (p *page) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, actions...); err != nil {
		p.t.Fatalf("%s: %v", what, err)
	}
}

func (p *page) signIn(token string) {
	p.t.Helper()
	p.until("the sign-in form", `!!document.getElementById('signin-token') && document.getElementById('signin-token').offsetParent !== null`)
	p.eval(`document.getElementById('signin-token').value = ''`)
	p.do("sign in", chromedp.SendKeys(chromedp.ID("signin-token"), token), chromedp.Click(chromedp.ID("signin-submit")))
}

func (p *page) until(what, expr string) {
	p.t.Helper()
	_, err := chromedp.Run(p.ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(30*time.Second), chromedp.WithPollingInterval(50*time.Millisecond)))
	if err != nil {
		p.t.Fatalf("waiting for %s: %v\npage text:\n%s", what, err, p.eval(`document.body.innerText`))
	}
}

func (p *page) eval(expr string) string {
	p.t.Helper()
	v, err := chromedp.Run(p.ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		p.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}
