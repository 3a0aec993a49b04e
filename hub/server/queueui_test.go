package server_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/switchboard-health/switchboard/hub/testenv"
)

// TestRiverUIUnderItsContentSecurityPolicy: with the Content-Security-Policy
// and frame denial the hub now sends on River UI's pages, River UI still
// loads in headless Chromium, calls its API and lists the delivered job,
// with no policy violation and no script error.
func TestRiverUIUnderItsContentSecurityPolicy(t *testing.T) {
	h := startWith(t, dialectSQLite, adminRoutes)
	r := h.post("/fhir/R4/Patient", patient)
	if r.status != http.StatusAccepted {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if st := h.waitFor(r.header.Get("Content-Location"), 15*time.Second); st.State != "delivered" {
		t.Fatalf("not delivered: %+v", st)
	}

	ctx, cancel := context.WithTimeout(testenv.Browser(t), time.Minute)
	defer cancel()
	var mu sync.Mutex
	var problems []string
	go func() {
		for m, err := range chromedp.Console(ctx) {
			if err != nil {
				return
			}
			if m.IsException() || m.Source == "security" || strings.Contains(m.Text, "Content Security Policy") ||
				strings.Contains(m.Text, "Content-Security-Policy") {
				mu.Lock()
				problems = append(problems, fmt.Sprintf("%s src=%s url=%s:%d text=%q", m.Type, m.Source, m.URL, m.Line, m.Text))
				mu.Unlock()
			}
		}
	}()
	// The console's session cookie, as POST /console/session sets it.
	httpOnly := true
	if _, err := chromedp.Call(ctx, network.SetCookie, network.SetCookieParams{Name: "sb_token", Value: h.adminToken,
		URL: h.url + "/admin/queue/", HTTPOnly: &httpOnly, SameSite: network.CookieSameSiteStrict}); err != nil {
		t.Fatal(err)
	}
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(h.url+"/admin/queue/jobs?state=completed"))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != http.StatusOK || !strings.Contains(header(resp.Headers, "Content-Security-Policy"), "default-src 'self'") ||
		header(resp.Headers, "X-Frame-Options") != "DENY" {
		t.Fatalf("River UI's page: %d %v", resp.Status, resp.Headers)
	}
	p := &testenv.Page{T: t, Ctx: ctx, Wait: 30 * time.Second}
	p.Until("River UI listed the delivered job", `document.body.innerText.includes('deliver')`)
	testenv.Screenshot(t, ctx, "river-ui-under-csp")
	time.Sleep(500 * time.Millisecond) // late reports
	mu.Lock()
	defer mu.Unlock()
	if len(problems) > 0 {
		t.Fatalf("River UI under its policy:\n%s", strings.Join(problems, "\n"))
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
