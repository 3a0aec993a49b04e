package route

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Alerts configures the outbound webhook that tells admins a destination is
// in trouble (package alert): too many permanent failures within a window,
// or its circuit breaker opening. The webhook is signed per Standard
// Webhooks with the secret in SecretEnv ("whsec_<base64>").
//
//	alerts:
//	  url: https://ops.example.com/hooks/switchboard   # https unless the host is loopback
//	  secret_env: SWITCHBOARD_ALERT_SECRET
//	  failures: { threshold: 10, window: 15m }
//	  breaker_open: true
type Alerts struct {
	// URL receives the alerts. It must be https, except on a loopback
	// host (a local relay): an alert says which vendor is failing.
	URL string `yaml:"url"`
	// SecretEnv names the environment variable holding the signing
	// secret; the file never holds the secret itself.
	SecretEnv string `yaml:"secret_env"`
	// Failures alerts when a destination's permanent failures reach a
	// threshold within a window; nil for no such alerts.
	Failures *FailureAlert `yaml:"failures"`
	// BreakerOpen alerts when a destination's circuit breaker opens (and
	// again when it closes after that).
	BreakerOpen bool `yaml:"breaker_open"`
}

// FailureAlert is the failure threshold of Alerts.
type FailureAlert struct {
	// Threshold is the number of permanent failures, at least 1.
	Threshold int `yaml:"threshold"`
	// Window is the sliding window they are counted in (default 15m,
	// 1m to 24h). At most one alert per destination is sent per window.
	Window time.Duration `yaml:"window"`
}

// Alert window bounds and default.
const (
	DefaultAlertWindow = 15 * time.Minute
	MinAlertWindow     = time.Minute
	MaxAlertWindow     = 24 * time.Hour
)

// envName is what the hub accepts as an environment variable's name.
var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// checkAlerts fills the alerts block's defaults and checks it.
func (t *Table) checkAlerts() []error {
	a := t.Alerts
	if a == nil {
		return nil
	}
	var errs []error
	if err := checkAlertURL(a.URL); err != nil {
		errs = append(errs, err)
	}
	if !envName.MatchString(a.SecretEnv) {
		errs = append(errs, errors.New("alerts: secret_env must name an environment variable"))
	}
	if f := a.Failures; f != nil {
		if f.Window == 0 {
			f.Window = DefaultAlertWindow
		}
		if f.Threshold < 1 {
			errs = append(errs, errors.New("alerts: failures.threshold must be at least 1"))
		}
		if f.Window < MinAlertWindow || f.Window > MaxAlertWindow {
			errs = append(errs, fmt.Errorf("alerts: failures.window must be between %v and %v", MinAlertWindow, MaxAlertWindow))
		}
	}
	if a.Failures == nil && !a.BreakerOpen {
		errs = append(errs, errors.New("alerts: nothing to alert on (set failures or breaker_open: true)"))
	}
	return errs
}

// checkAlertURL accepts an https URL, or http on a loopback host. The
// message never quotes the URL: webhook URLs often carry a token.
func checkAlertURL(raw string) error {
	if raw == "" {
		return errors.New("alerts: url is required")
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return errors.New("alerts: url must be an absolute https URL")
	}
	if u.Scheme == "http" && !loopback(u.Hostname()) {
		return errors.New("alerts: url must use https (http only to a loopback host)")
	}
	return nil
}

// loopback reports whether host is localhost or a loopback address.
func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
