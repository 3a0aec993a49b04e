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
	p := &testenv.Page{T: t, Ctx: ctx, Wait: 30 * time.Second}
	p.Do("open the console", chromedp.Navigate(h.url+"/console/"))
	signIn(p, h.adminToken)
	p.Until("the admin signed in", `document.getElementById('whoami-role').textContent === 'admin'`)
	p.Do("filter by destination", chromedp.SetValue(chromedp.ID("f-destination"), "ehr"), chromedp.Click(chromedp.ID("failures-apply")))
	p.Until("50 failed syncs", `document.querySelectorAll('[data-testid=failure-row]').length === 50`)
	for _, c := range canaries {
		if p.Eval(fmt.Sprintf(`String(document.body.innerHTML.includes(%q))`, c)) != "false" {
			t.Fatalf("canary %s on the page", c)
		}
	}
	testenv.Screenshot(t, ctx, "live-console-failures")
	p.Do("replay all matching", chromedp.Click(chromedp.ID("replay-all")))
	p.Until("the confirmation", `document.getElementById('modal').open`)
	if got := p.Eval(`document.getElementById('modal-title').textContent`); got != "Replay 50 failed syncs?" {
		t.Fatalf("confirmation says %q", got)
	}
	testenv.Screenshot(t, ctx, "live-console-confirm")
	p.Do("confirm", chromedp.Click(chromedp.ID("modal-confirm")))
	p.Until("the result", `document.getElementById('failures-result').textContent.includes('replayed 50')`)
	h.replayedOnce(dialectSQLite, locs, canaries)
	p.Do("reload", chromedp.Click(chromedp.ID("failures-apply")))
	p.Until("no failed syncs left", `document.querySelectorAll('[data-testid=failure-row]').length === 0`)

	// The auditor's view of the same events.
	p.Do("sign out", chromedp.Click(chromedp.ID("signout")))
	signIn(p, h.auditorToken)
	p.Until("the auditor signed in", `document.getElementById('whoami-role').textContent === 'auditor'`)
	p.Do("filter replays", chromedp.SetValue(chromedp.ID("l-event"), "replay"), chromedp.Click(chromedp.ID("log-apply")))
	p.Until("50 replay rows", `document.querySelectorAll('[data-testid=log-row]').length === 50`)
	testenv.Screenshot(t, ctx, "live-console-log")
	p.Do("verify", chromedp.Click(chromedp.ID("log-verify")))
	p.Until("the chain verified", `document.getElementById('log-verify-result').dataset.ok === 'true'`)
}

// signIn signs in to the console with a token.
func signIn(p *testenv.Page, token string) {
	p.T.Helper()
	p.Until("the sign-in form", `!!document.getElementById('signin-token') && document.getElementById('signin-token').offsetParent !== null`)
	p.Eval(`document.getElementById('signin-token').value = ''`)
	p.Do("sign in", chromedp.SendKeys(chromedp.ID("signin-token"), token), chromedp.Click(chromedp.ID("signin-submit")))
}
