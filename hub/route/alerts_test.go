package route

import (
	"strings"
	"testing"
	"time"
)

const alertsBase = `
destinations:
  ehr: {type: fhir}
routes:
  - {resource: Patient, to: [ehr]}
`

func TestAlerts(t *testing.T) {
	tab, err := Parse([]byte(alertsBase+`
alerts:
  url: https://ops.example.com/hooks/switchboard
  secret_env: SWITCHBOARD_ALERT_SECRET
  failures: {threshold: 10, window: 30m}
  breaker_open: true
`), isType)
	if err != nil {
		t.Fatal(err)
	}
	a := tab.Alerts
	if a == nil || a.URL != "https://ops.example.com/hooks/switchboard" || a.SecretEnv != "SWITCHBOARD_ALERT_SECRET" ||
		a.Failures == nil || a.Failures.Threshold != 10 || a.Failures.Window != 30*time.Minute || !a.BreakerOpen {
		t.Fatalf("alerts: %+v", a)
	}

	tab, err = Parse([]byte(alertsBase+`
alerts: {url: "http://127.0.0.1:9999/alerts", secret_env: S, failures: {threshold: 3}}
`), isType)
	if err != nil {
		t.Fatalf("http to a loopback host is allowed: %v", err)
	}
	if w := tab.Alerts.Failures.Window; w != DefaultAlertWindow {
		t.Fatalf("default window %v, want %v", w, DefaultAlertWindow)
	}

	tab, err = Parse([]byte(alertsBase), isType)
	if err != nil || tab.Alerts != nil {
		t.Fatalf("no alerts block: %v %+v", err, tab.Alerts)
	}
}

// TestAlertsProblems: every mistake in the block is reported at load time,
// with the others, and never quotes the URL (alert URLs often hold a token).
func TestAlertsProblems(t *testing.T) {
	for _, c := range []struct{ name, block, want string }{
		{"no url", `{secret_env: S, breaker_open: true}`, "alerts: url is required"},
		{"plain http", `{url: "http://ops.example.com/h?token=abc", secret_env: S, breaker_open: true}`, "alerts: url must use https"},
		{"not a url", `{url: "ops.example.com/h", secret_env: S, breaker_open: true}`, "alerts: url must be an absolute https URL"},
		{"other scheme", `{url: "ftp://ops.example.com/h", secret_env: S, breaker_open: true}`, "alerts: url must be an absolute https URL"},
		{"no secret", `{url: "https://ops.example.com/h", breaker_open: true}`, "alerts: secret_env must name an environment variable"},
		{"secret inline", `{url: "https://ops.example.com/h", secret_env: "whsec_abc=", breaker_open: true}`, "alerts: secret_env must name"},
		{"zero threshold", `{url: "https://ops.example.com/h", secret_env: S, failures: {window: 5m}}`, "alerts: failures.threshold must be at least 1"},
		{"short window", `{url: "https://ops.example.com/h", secret_env: S, failures: {threshold: 1, window: 30s}}`, "alerts: failures.window must be between 1m0s and 24h0m0s"},
		{"long window", `{url: "https://ops.example.com/h", secret_env: S, failures: {threshold: 1, window: 48h}}`, "alerts: failures.window must be between"},
		{"nothing to alert on", `{url: "https://ops.example.com/h", secret_env: S}`, "alerts: nothing to alert on"},
		{"unknown key", `{url: "https://ops.example.com/h", secret_env: S, breaker_open: true, email: x@y}`, "field email not found"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(alertsBase+"alerts: "+c.block+"\n"), isType)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want %q", err, c.want)
			}
			if strings.Contains(err.Error(), "token=abc") {
				t.Fatalf("the error quotes the URL: %v", err)
			}
		})
	}
	// Reported together with the table's other problems.
	_, err := Parse([]byte(`
destinations:
  ehr: {}
alerts: {url: "http://ops.example.com/h", secret_env: S, breaker_open: true}
`), isType)
	for _, want := range []string{"type is required", "alerts: url must use https"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("want %q in %v", want, err)
		}
	}
}
