// Package config holds the process settings of `switchboard serve`, read
// once from the environment (and an optional settings file) and validated
// with every problem reported at once. Routing and destinations live in the
// routing file (package route). Reference documents every setting.
package config

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/switchboard-health/switchboard/hub/logging"
)

// Roles a process can take.
const (
	RoleAll    = "all"
	RoleAPI    = "api"
	RoleWorker = "worker"
)

// DefaultMaxBundleEntries bounds the entries of one Bundle unless
// SWITCHBOARD_MAX_BUNDLE_ENTRIES says otherwise: enough for a day's batch
// of a small practice, few enough that one request's validation, sealing
// and fan-out stay within a few seconds on two cores.
const DefaultMaxBundleEntries = 5000

// The delivery try and the rescue window (docs/decisions/0011-rescue-window.md):
// a try is bounded short enough, and the window just above it, that the
// jobs of a killed worker run again within half a minute.
const (
	// DefaultTryTimeout bounds one delivery try, inner HTTP retries included.
	DefaultTryTimeout = 15 * time.Second
	// RescueMargin is how long past the delivery timeout a job may still be
	// 'running' before it is taken for the job of a dead process.
	RescueMargin = 5 * time.Second
)

// Config is the process configuration. Field comments name the variable.
type Config struct {
	Addr            string         // SWITCHBOARD_ADDR: listen address (default 127.0.0.1:8080)
	DatabaseURL     string         // DATABASE_URL: postgres://...; unset selects embedded SQLite
	SQLitePath      string         // SWITCHBOARD_SQLITE_PATH (default var/switchboard.db)
	PGMaxConns      int32          // SWITCHBOARD_PG_MAX_CONNS: PostgreSQL pool size (default 20)
	RoutesPath      string         // SWITCHBOARD_ROUTES: routing file (default switchboard.yaml)
	SealKeys        string         // SWITCHBOARD_SEAL_KEYS: "kid:base64,kid2:base64", first active (secret)
	HMACKey         string         // SWITCHBOARD_HMAC_KEY: base64, >= 32 bytes (secret)
	DevKeysPath     string         // SWITCHBOARD_DEV_KEYS: where SQLite mode keeps generated keys (default var/dev-keys.env)
	MaxBodyBytes    int64          // SWITCHBOARD_MAX_BODY_BYTES (default 1048576)
	MaxEntries      int            // SWITCHBOARD_MAX_BUNDLE_ENTRIES: entries of one batch or transaction Bundle (default 5000)
	PublicURL       string         // SWITCHBOARD_PUBLIC_URL: the scheme, host and path prefix clients and vendors reach the hub at (links, HubSpot's signed URL)
	TrustedProxies  []netip.Prefix // SWITCHBOARD_TRUSTED_PROXIES: proxies whose X-Forwarded-Proto and X-Forwarded-Host are believed
	TLSCert         string         // SWITCHBOARD_TLS_CERT: PEM certificate chain; with TLSKey the hub serves HTTPS
	TLSKey          string         // SWITCHBOARD_TLS_KEY: PEM private key of TLSCert (secret file)
	RedirectAddr    string         // SWITCHBOARD_HTTP_REDIRECT_ADDR: a plain-HTTP listener that redirects browsers to PublicURL
	CORSOrigins     []string       // SWITCHBOARD_CORS_ORIGINS: origins whose pages may call the API (CORS); none by default
	AutoMigrate     bool           // SWITCHBOARD_AUTO_MIGRATE: migrate at serve start-up (default true)
	Role            string         // SWITCHBOARD_ROLE or --role: api | worker | all (default all)
	RetryBase       time.Duration  // SWITCHBOARD_RETRY_BASE: first retry backoff (default 2s)
	RetryMax        time.Duration  // SWITCHBOARD_RETRY_MAX: backoff cap (default 1h)
	TryTimeout      time.Duration  // SWITCHBOARD_DELIVERY_TIMEOUT: one delivery try (default DefaultTryTimeout)
	RescueAfter     time.Duration  // SWITCHBOARD_RESCUE_AFTER: a job running this long belongs to a dead process and is retried (default delivery timeout + RescueMargin)
	ShutdownTimeout time.Duration  // SWITCHBOARD_SHUTDOWN_TIMEOUT: graceful drain deadline (default 30s)
	CompletedKeep   time.Duration  // SWITCHBOARD_COMPLETED_RETENTION: completed jobs kept (default 1h)
	ReplayWindow    time.Duration  // SWITCHBOARD_REPLAY_WINDOW: a failed sync's sealed payload is kept this long for replay, then purged (default 168h)
	WebhookKeep     time.Duration  // SWITCHBOARD_WEBHOOK_RETENTION: webhook de-duplication rows kept (default 720h; longer than any vendor's retry schedule)
	FetchCooldown   time.Duration  // SWITCHBOARD_FETCH_COOLDOWN: least time between a queue's fetches (default 10ms on PostgreSQL, 50ms on SQLite)
	DBTimeout       time.Duration  // SWITCHBOARD_DB_TIMEOUT: an API request's wait on the database (default 5s)
	RateLimitWait   time.Duration  // SWITCHBOARD_RATE_LIMIT_WAIT: longest a vendor call waits in its worker for a place in the destination's rate limit before the delivery is snoozed (default 1s)
	ClientRate      float64        // SWITCHBOARD_CLIENT_RATE: an API client's requests per second in one process, unless the client has its own (default 50)
	ClientBurst     int64          // SWITCHBOARD_CLIENT_BURST: an API client's burst (default 100)
	WebhookRate     float64        // SWITCHBOARD_WEBHOOK_RATE: a webhook source's verified events per second in one process (default 100)
	WebhookBurst    int64          // SWITCHBOARD_WEBHOOK_BURST: a webhook source's burst (default 200)
	LogLevel        string         // SWITCHBOARD_LOG_LEVEL: debug | info | warn | error (default info)
	LogFormat       string         // SWITCHBOARD_LOG_FORMAT: json | text | syslog (default json)
	SyslogAddr      string         // SWITCHBOARD_SYSLOG_ADDR: where syslog lines go (default stdout)
	SyslogFacility  string         // SWITCHBOARD_SYSLOG_FACILITY (default local0)
	SyslogSDID      string         // SWITCHBOARD_SYSLOG_SDID (default switchboard@32473)
	Metrics         bool           // SWITCHBOARD_METRICS: serve /metrics (default true)

	// File is the settings file read (SWITCHBOARD_CONFIG), "" if none.
	File string
	// sources records where each variable's value came from.
	sources map[string]string
}

// Source says where a variable's effective value came from: "env",
// "file" or "default".
func (c *Config) Source(name string) string {
	if s := c.sources[name]; s != "" {
		return s
	}
	return "default"
}

// readFile reads a settings file: a YAML mapping of Reference keys. Unknown
// keys are refused, and so are the seal and HMAC keys, which have no key:
// they belong in the environment, from a secret store, never in a file that
// is copied around.
func readFile(path string) (map[string]string, []error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, []error{fmt.Errorf("SWITCHBOARD_CONFIG: %w", err)}
	}
	var doc map[string]yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, []error{fmt.Errorf("SWITCHBOARD_CONFIG %s: %w", path, err)}
	}
	byKey := map[string]Var{}
	for _, v := range Reference {
		if v.Key != "" {
			byKey[v.Key] = v
		}
	}
	keys := make([]string, 0, len(doc))
	for k := range doc {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := map[string]string{}
	var errs []error
	for _, k := range keys {
		n := doc[k]
		v, ok := byKey[k]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("SWITCHBOARD_CONFIG %s line %d: unknown setting %q", path, n.Line, k))
		case n.Kind != yaml.ScalarNode:
			errs = append(errs, fmt.Errorf("SWITCHBOARD_CONFIG %s line %d: %s: want a single value", path, n.Line, k))
		default:
			out[v.Env] = n.Value
		}
	}
	return out, errs
}

// Lookup reads one environment variable.
type Lookup func(string) (string, bool)

// FromEnv reads the configuration from the environment and, when
// SWITCHBOARD_CONFIG names one, a settings file under it; the error lists
// every invalid setting.
func FromEnv(env Lookup) (Config, error) {
	var errs []error
	sources := map[string]string{}
	file := ""
	var fromFile map[string]string
	if v, ok := env("SWITCHBOARD_CONFIG"); ok && strings.TrimSpace(v) != "" {
		file = strings.TrimSpace(v)
		var ferrs []error
		fromFile, ferrs = readFile(file)
		errs = append(errs, ferrs...)
	}
	get := func(name, def string) string {
		if v, ok := env(name); ok && strings.TrimSpace(v) != "" {
			sources[name] = "env"
			return strings.TrimSpace(v)
		}
		if v, ok := fromFile[name]; ok && strings.TrimSpace(v) != "" {
			sources[name] = "file"
			return strings.TrimSpace(v)
		}
		return def
	}
	dur := func(name string, def time.Duration) time.Duration {
		v := get(name, "")
		if v == "" {
			return def
		}
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			errs = append(errs, fmt.Errorf("%s: want a positive duration like 30s, got %q", name, v))
			return def
		}
		return d
	}
	num := func(name string, def int64) int64 {
		v := get(name, "")
		if v == "" {
			return def
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			errs = append(errs, fmt.Errorf("%s: want a positive whole number, got %q", name, v))
			return def
		}
		return n
	}
	rate := func(name string, def float64) float64 {
		v := get(name, "")
		if v == "" {
			return def
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || !(f > 0) || f > 1e6 {
			errs = append(errs, fmt.Errorf("%s: want requests per second above 0, like 50 or 0.5, got %q", name, v))
			return def
		}
		return f
	}
	boolean := func(name string, def bool) bool {
		v := get(name, "")
		if v == "" {
			return def
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: want true or false, got %q", name, v))
			return def
		}
		return b
	}
	c := Config{
		Addr:            get("SWITCHBOARD_ADDR", "127.0.0.1:8080"),
		DatabaseURL:     get("DATABASE_URL", ""),
		SQLitePath:      get("SWITCHBOARD_SQLITE_PATH", "var/switchboard.db"),
		PGMaxConns:      int32(num("SWITCHBOARD_PG_MAX_CONNS", 20)),
		RoutesPath:      get("SWITCHBOARD_ROUTES", "switchboard.yaml"),
		SealKeys:        get("SWITCHBOARD_SEAL_KEYS", ""),
		HMACKey:         get("SWITCHBOARD_HMAC_KEY", ""),
		DevKeysPath:     get("SWITCHBOARD_DEV_KEYS", "var/dev-keys.env"),
		MaxBodyBytes:    num("SWITCHBOARD_MAX_BODY_BYTES", 1<<20),
		MaxEntries:      int(num("SWITCHBOARD_MAX_BUNDLE_ENTRIES", DefaultMaxBundleEntries)),
		PublicURL:       strings.TrimRight(get("SWITCHBOARD_PUBLIC_URL", ""), "/"),
		TLSCert:         get("SWITCHBOARD_TLS_CERT", ""),
		TLSKey:          get("SWITCHBOARD_TLS_KEY", ""),
		RedirectAddr:    get("SWITCHBOARD_HTTP_REDIRECT_ADDR", ""),
		AutoMigrate:     boolean("SWITCHBOARD_AUTO_MIGRATE", true),
		Role:            get("SWITCHBOARD_ROLE", RoleAll),
		RetryBase:       dur("SWITCHBOARD_RETRY_BASE", 2*time.Second),
		RetryMax:        dur("SWITCHBOARD_RETRY_MAX", time.Hour),
		TryTimeout:      dur("SWITCHBOARD_DELIVERY_TIMEOUT", DefaultTryTimeout),
		ShutdownTimeout: dur("SWITCHBOARD_SHUTDOWN_TIMEOUT", 30*time.Second),
		RescueAfter:     dur("SWITCHBOARD_RESCUE_AFTER", 0),
		FetchCooldown:   dur("SWITCHBOARD_FETCH_COOLDOWN", 0),
		CompletedKeep:   dur("SWITCHBOARD_COMPLETED_RETENTION", time.Hour),
		ReplayWindow:    dur("SWITCHBOARD_REPLAY_WINDOW", 7*24*time.Hour),
		WebhookKeep:     dur("SWITCHBOARD_WEBHOOK_RETENTION", 30*24*time.Hour),
		DBTimeout:       dur("SWITCHBOARD_DB_TIMEOUT", 5*time.Second),
		RateLimitWait:   dur("SWITCHBOARD_RATE_LIMIT_WAIT", time.Second),
		ClientRate:      rate("SWITCHBOARD_CLIENT_RATE", 50),
		ClientBurst:     num("SWITCHBOARD_CLIENT_BURST", 100),
		WebhookRate:     rate("SWITCHBOARD_WEBHOOK_RATE", 100),
		WebhookBurst:    num("SWITCHBOARD_WEBHOOK_BURST", 200),
		LogLevel:        get("SWITCHBOARD_LOG_LEVEL", "info"),
		LogFormat:       get("SWITCHBOARD_LOG_FORMAT", "json"),
		SyslogAddr:      get("SWITCHBOARD_SYSLOG_ADDR", "stdout"),
		SyslogFacility:  get("SWITCHBOARD_SYSLOG_FACILITY", "local0"),
		SyslogSDID:      get("SWITCHBOARD_SYSLOG_SDID", "switchboard@32473"),
		Metrics:         boolean("SWITCHBOARD_METRICS", true),
		File:            file,
		sources:         sources,
	}
	var perr []error
	c.TrustedProxies, perr = parseProxies(get("SWITCHBOARD_TRUSTED_PROXIES", ""))
	errs = append(errs, perr...)
	c.CORSOrigins, perr = parseOrigins(get("SWITCHBOARD_CORS_ORIGINS", ""))
	errs = append(errs, perr...)
	if err := c.check(); err != nil {
		errs = append(errs, err)
	}
	return c, errors.Join(errs...)
}

func (c *Config) check() error {
	var errs []error
	switch c.Role {
	case RoleAll, RoleAPI, RoleWorker:
	default:
		errs = append(errs, fmt.Errorf("SWITCHBOARD_ROLE: want api, worker or all, got %q", c.Role))
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("SWITCHBOARD_LOG_LEVEL: want debug, info, warn or error, got %q", c.LogLevel))
	}
	switch c.LogFormat {
	case "json", "text", "syslog":
	default:
		errs = append(errs, fmt.Errorf("SWITCHBOARD_LOG_FORMAT: want json, text or syslog, got %q", c.LogFormat))
	}
	if c.LogFormat == "syslog" {
		// The logger's own checks of its address, facility and SD-ID.
		if err := logging.CheckSyslog(logging.Options{SyslogAddr: c.SyslogAddr, Facility: c.SyslogFacility,
			StructuredDataID: c.SyslogSDID}); err != nil {
			leaves := []error{err}
			if j, ok := err.(interface{ Unwrap() []error }); ok {
				leaves = j.Unwrap()
			}
			for _, e := range leaves {
				errs = append(errs, fmt.Errorf("SWITCHBOARD_SYSLOG_*: %w", e))
			}
		}
	}
	errs = append(errs, c.checkTransport()...)
	if c.RescueAfter == 0 {
		c.RescueAfter = c.TryTimeout + RescueMargin
	}
	if c.RescueAfter < c.TryTimeout {
		errs = append(errs, errors.New("SWITCHBOARD_RESCUE_AFTER must not be shorter than SWITCHBOARD_DELIVERY_TIMEOUT"))
	}
	if c.DatabaseURL != "" && (c.SealKeys == "" || c.HMACKey == "") {
		errs = append(errs, errors.New("SWITCHBOARD_SEAL_KEYS and SWITCHBOARD_HMAC_KEY are required with DATABASE_URL: "+
			"the hub will not queue PHI in PostgreSQL under a generated development key (run `switchboard keys generate`)"))
	}
	return errors.Join(errs...)
}

// Postgres reports whether the configuration selects PostgreSQL.
func (c *Config) Postgres() bool { return c.DatabaseURL != "" }

// RunsAPI reports whether this process serves the HTTP API.
func (c *Config) RunsAPI() bool { return c.Role == RoleAll || c.Role == RoleAPI }

// RunsWorkers reports whether this process works jobs.
func (c *Config) RunsWorkers() bool { return c.Role == RoleAll || c.Role == RoleWorker }
