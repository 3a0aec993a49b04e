package testenv

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Page drives one browser tab (from Browser) in a test; each helper fails
// the test with what it was doing or waiting for, and the page's text.
type Page struct {
	T   testing.TB
	Ctx context.Context
	// Wait bounds Until (default 10s).
	Wait time.Duration
}

// Do runs chromedp actions.
func (p *Page) Do(what string, actions ...chromedp.Action[chromedp.Void]) {
	p.T.Helper()
	if err := chromedp.Do(p.Ctx, actions...); err != nil {
		p.T.Fatalf("%s: %v", what, err)
	}
}

// Until waits for the JavaScript expression to be true.
func (p *Page) Until(what, expr string) {
	p.T.Helper()
	wait := p.Wait
	if wait <= 0 {
		wait = 10 * time.Second
	}
	_, err := chromedp.Run(p.Ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(wait), chromedp.WithPollingInterval(25*time.Millisecond)))
	if err != nil {
		p.T.Fatalf("waiting for %s (%s): %v\npage text:\n%s", what, expr, err, p.Eval(`document.body.innerText`))
	}
}

// Eval evaluates a JavaScript expression that yields a string.
func (p *Page) Eval(expr string) string {
	p.T.Helper()
	v, err := chromedp.Run(p.Ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		p.T.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}
