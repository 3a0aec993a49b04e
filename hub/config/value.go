package config

import (
	"fmt"
	"strconv"
	"strings"
)

// Value is a setting's effective value as the process uses it, by
// variable name ("" for a setting not set and without a default; "?" for a
// name Config does not hold). `switchboard config check` prints it.
func (c *Config) Value(name string) string {
	switch name {
	case "SWITCHBOARD_ADDR":
		return c.Addr
	case "DATABASE_URL":
		return c.DatabaseURL
	case "SWITCHBOARD_SQLITE_PATH":
		return c.SQLitePath
	case "SWITCHBOARD_PG_MAX_CONNS":
		return fmt.Sprint(c.PGMaxConns)
	case "SWITCHBOARD_ROUTES":
		return c.RoutesPath
	case "SWITCHBOARD_SEAL_KEYS":
		return c.SealKeys
	case "SWITCHBOARD_HMAC_KEY":
		return c.HMACKey
	case "SWITCHBOARD_DEV_KEYS":
		return c.DevKeysPath
	case "SWITCHBOARD_MAX_BODY_BYTES":
		return fmt.Sprint(c.MaxBodyBytes)
	case "SWITCHBOARD_MAX_BUNDLE_ENTRIES":
		return fmt.Sprint(c.MaxEntries)
	case "SWITCHBOARD_PUBLIC_URL":
		return c.PublicURL
	case "SWITCHBOARD_TRUSTED_PROXIES":
		ps := make([]string, len(c.TrustedProxies))
		for i, p := range c.TrustedProxies {
			ps[i] = p.String()
		}
		return strings.Join(ps, ",")
	case "SWITCHBOARD_TLS_CERT":
		return c.TLSCert
	case "SWITCHBOARD_TLS_KEY":
		return c.TLSKey
	case "SWITCHBOARD_HTTP_REDIRECT_ADDR":
		return c.RedirectAddr
	case "SWITCHBOARD_CORS_ORIGINS":
		return strings.Join(c.CORSOrigins, ",")
	case "SWITCHBOARD_AUTO_MIGRATE":
		return fmt.Sprint(c.AutoMigrate)
	case "SWITCHBOARD_ROLE":
		return c.Role
	case "SWITCHBOARD_RETRY_BASE":
		return c.RetryBase.String()
	case "SWITCHBOARD_RETRY_MAX":
		return c.RetryMax.String()
	case "SWITCHBOARD_DELIVERY_TIMEOUT":
		return c.TryTimeout.String()
	case "SWITCHBOARD_RESCUE_AFTER":
		return c.RescueAfter.String()
	case "SWITCHBOARD_SHUTDOWN_TIMEOUT":
		return c.ShutdownTimeout.String()
	case "SWITCHBOARD_DB_TIMEOUT":
		return c.DBTimeout.String()
	case "SWITCHBOARD_RATE_LIMIT_WAIT":
		return c.RateLimitWait.String()
	case "SWITCHBOARD_CLIENT_RATE":
		return strconv.FormatFloat(c.ClientRate, 'g', -1, 64)
	case "SWITCHBOARD_CLIENT_BURST":
		return strconv.FormatInt(c.ClientBurst, 10)
	case "SWITCHBOARD_WEBHOOK_RATE":
		return strconv.FormatFloat(c.WebhookRate, 'g', -1, 64)
	case "SWITCHBOARD_WEBHOOK_BURST":
		return strconv.FormatInt(c.WebhookBurst, 10)
	case "SWITCHBOARD_COMPLETED_RETENTION":
		return c.CompletedKeep.String()
	case "SWITCHBOARD_REPLAY_WINDOW":
		return c.ReplayWindow.String()
	case "SWITCHBOARD_WEBHOOK_RETENTION":
		return c.WebhookKeep.String()
	case "SWITCHBOARD_FETCH_COOLDOWN":
		if c.FetchCooldown == 0 {
			return "10ms (PostgreSQL), 50ms (SQLite)"
		}
		return c.FetchCooldown.String()
	case "SWITCHBOARD_LOG_LEVEL":
		return c.LogLevel
	case "SWITCHBOARD_LOG_FORMAT":
		return c.LogFormat
	case "SWITCHBOARD_SYSLOG_ADDR":
		return c.SyslogAddr
	case "SWITCHBOARD_SYSLOG_FACILITY":
		return c.SyslogFacility
	case "SWITCHBOARD_SYSLOG_SDID":
		return c.SyslogSDID
	case "SWITCHBOARD_METRICS":
		return fmt.Sprint(c.Metrics)
	}
	return "?"
}
