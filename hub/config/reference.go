package config

import (
	"fmt"
	"io"
	"slices"
	"strconv"
)

// Var documents one setting: its environment variable, its key in the
// settings file, its default and whether its value is a secret. Reference
// is the one list the loader, `switchboard config check`, the README table
// and the deploy manifests' test all read, so a setting cannot be added in
// one place and forgotten in another.
type Var struct {
	Env     string // environment variable
	Key     string // key in the settings file (SWITCHBOARD_CONFIG); "" when the file cannot set it
	Default string // shown by `config check` and the reference
	Doc     string
	Secret  bool // masked when printed; refused in the settings file
	// External marks variables read by a library rather than by Config
	// (OpenTelemetry's OTEL_*, the OIDC block read by package auth).
	External bool
}

// Reference lists every setting the hub reads from its environment.
// Vendor credentials are not here: the routing file names them (api_key_env
// and the like), and `config check` lists those too.
var Reference = []Var{
	{Env: "SWITCHBOARD_CONFIG", Doc: "settings file (YAML) with the keys below; environment variables override it"},
	{Env: "SWITCHBOARD_ADDR", Key: "addr", Default: "127.0.0.1:8080", Doc: "listen address"},
	{Env: "DATABASE_URL", Key: "database_url", Doc: "postgres://…; unset selects embedded SQLite", Secret: true},
	{Env: "SWITCHBOARD_SQLITE_PATH", Key: "sqlite_path", Default: "var/switchboard.db", Doc: "the SQLite file"},
	{Env: "SWITCHBOARD_PG_MAX_CONNS", Key: "pg_max_conns", Default: "20", Doc: "PostgreSQL pool size (pgx's default of 4 on 2 cores is too small)"},
	{Env: "SWITCHBOARD_ROUTES", Key: "routes", Default: "switchboard.yaml", Doc: "the routing file"},
	{Env: "SWITCHBOARD_SEAL_KEYS", Default: "", Doc: "kid:base64key[,kid:base64key…], AES-256, first one active; required with PostgreSQL", Secret: true},
	{Env: "SWITCHBOARD_HMAC_KEY", Default: "", Doc: "base64, ≥ 32 bytes, for keyed hashes; required with PostgreSQL", Secret: true},
	{Env: "SWITCHBOARD_DEV_KEYS", Key: "dev_keys", Default: "var/dev-keys.env", Doc: "SQLite mode only: where generated development keys are kept"},
	{Env: "SWITCHBOARD_MAX_BODY_BYTES", Key: "max_body_bytes", Default: "1048576", Doc: "request body limit (413 above it)"},
	{Env: "SWITCHBOARD_MAX_BUNDLE_ENTRIES", Key: "max_bundle_entries", Default: "5000", Doc: "entries of one batch or transaction Bundle (413 above it, stated in the CapabilityStatement)"},
	{Env: "SWITCHBOARD_PUBLIC_URL", Key: "public_url", Doc: "http(s)://host[:port][/prefix] clients and vendors reach the hub at: the base of absolute links (search paging) and of the URL HubSpot signs; unset, paging links are relative"},
	{Env: "SWITCHBOARD_TRUSTED_PROXIES", Key: "trusted_proxies", Doc: "addresses or CIDR ranges of the proxies in front of the hub; only from these are X-Forwarded-Proto and X-Forwarded-Host believed (when SWITCHBOARD_PUBLIC_URL is unset)"},
	{Env: "SWITCHBOARD_TLS_CERT", Key: "tls_cert", Doc: "PEM certificate chain: with SWITCHBOARD_TLS_KEY the hub serves HTTPS itself (TLS 1.2+, HSTS) and reloads both files when they change or on SIGHUP; plain HTTP on that port gets 400"},
	{Env: "SWITCHBOARD_TLS_KEY", Key: "tls_key", Doc: "PEM private key of SWITCHBOARD_TLS_CERT (a file path; keep the file private)"},
	{Env: "SWITCHBOARD_HTTP_REDIRECT_ADDR", Key: "http_redirect_addr", Doc: "with TLS: a second, plain-HTTP listener that redirects GET and HEAD to SWITCHBOARD_PUBLIC_URL (308) and refuses everything else (403); unset, there is none"},
	{Env: "SWITCHBOARD_CORS_ORIGINS", Key: "cors_origins", Doc: "origins (https://app.example.com, comma-separated) whose pages may call the API from a browser; unset, CORS is off"},
	{Env: "SWITCHBOARD_AUTO_MIGRATE", Key: "auto_migrate", Default: "true", Doc: "apply migrations at serve start-up (set false when a migration job runs them)"},
	{Env: "SWITCHBOARD_ROLE", Key: "role", Default: "all", Doc: "api (serve, insert jobs), worker (work jobs; health and metrics only), all"},
	{Env: "SWITCHBOARD_RETRY_BASE", Key: "retry_base", Default: "2s", Doc: "first delivery retry backoff (doubling)"},
	{Env: "SWITCHBOARD_RETRY_MAX", Key: "retry_max", Default: "1h", Doc: "delivery backoff cap"},
	{Env: "SWITCHBOARD_DELIVERY_TIMEOUT", Key: "delivery_timeout", Default: "15s", Doc: "one delivery try, inner HTTP retries included"},
	{Env: "SWITCHBOARD_RESCUE_AFTER", Key: "rescue_after", Default: "delivery timeout + 5s", Doc: "a job running this long belongs to a dead process and is tried again"},
	{Env: "SWITCHBOARD_SHUTDOWN_TIMEOUT", Key: "shutdown_timeout", Default: "30s", Doc: "graceful drain deadline on SIGTERM"},
	{Env: "SWITCHBOARD_DB_TIMEOUT", Key: "db_timeout", Default: "5s", Doc: "longest an API request waits on the database before answering 503 with Retry-After (a Bundle: 1 ms more per entry)"},
	{Env: "SWITCHBOARD_RATE_LIMIT_WAIT", Key: "rate_limit_wait", Default: "1s", Doc: "longest a vendor call waits in its worker for a place in the destination's rate_limit (shared by all processes); a delivery that would wait longer is snoozed, without counting as an attempt"},
	{Env: "SWITCHBOARD_CLIENT_RATE", Key: "client_rate", Default: "50", Doc: "an API client's requests per second, per hub process, unless the client was created with its own --rate (429 with Retry-After above it)"},
	{Env: "SWITCHBOARD_CLIENT_BURST", Key: "client_burst", Default: "100", Doc: "an API client's burst above its rate, per hub process, unless created with its own --burst"},
	{Env: "SWITCHBOARD_WEBHOOK_RATE", Key: "webhook_rate", Default: "100", Doc: "a webhook source's verified events per second, per hub process (429 with Retry-After above it; vendors retry)"},
	{Env: "SWITCHBOARD_WEBHOOK_BURST", Key: "webhook_burst", Default: "200", Doc: "a webhook source's burst above its rate, per hub process"},
	{Env: "SWITCHBOARD_COMPLETED_RETENTION", Key: "completed_retention", Default: "1h", Doc: "how long completed jobs stay in River's table"},
	{Env: "SWITCHBOARD_REPLAY_WINDOW", Key: "replay_window", Default: "168h", Doc: "a failed sync's sealed payload is kept this long for replay, then purged"},
	{Env: "SWITCHBOARD_WEBHOOK_RETENTION", Key: "webhook_retention", Default: "720h", Doc: "webhook de-duplication rows kept (longer than any vendor's retry schedule)"},
	{Env: "SWITCHBOARD_FETCH_COOLDOWN", Key: "fetch_cooldown", Default: "10ms (PostgreSQL), 50ms (SQLite)", Doc: "least time between a queue's fetches"},
	{Env: "SWITCHBOARD_LOG_LEVEL", Key: "log_level", Default: "info", Doc: "debug | info | warn | error"},
	{Env: "SWITCHBOARD_LOG_FORMAT", Key: "log_format", Default: "json", Doc: "json | text | syslog (RFC 5424)"},
	{Env: "SWITCHBOARD_SYSLOG_ADDR", Key: "syslog_addr", Default: "stdout", Doc: "with log_format syslog: stdout, unix:///dev/log, unixgram:///path, udp://host:514 or tcp://host:514"},
	{Env: "SWITCHBOARD_SYSLOG_FACILITY", Key: "syslog_facility", Default: "local0", Doc: "with log_format syslog: the facility (kern … local7)"},
	{Env: "SWITCHBOARD_SYSLOG_SDID", Key: "syslog_sdid", Default: "switchboard@32473", Doc: "with log_format syslog: the structured data element's SD-ID (32473 is IANA's example enterprise number: use your own)"},
	{Env: "SWITCHBOARD_METRICS", Key: "metrics", Default: "true", Doc: "serve Prometheus metrics at /metrics (no PHI in any label)"},
	{Env: "SWITCHBOARD_OIDC_ISSUER", Doc: "accept JWTs from this OIDC issuer (besides API client tokens)", External: true},
	{Env: "SWITCHBOARD_OIDC_AUDIENCE", Doc: "the audience those JWTs must name; required with an issuer", External: true},
	{Env: "SWITCHBOARD_OIDC_JWKS_URL", Default: "discovered", Doc: "the issuer's key set", External: true},
	{Env: "SWITCHBOARD_OIDC_ROLE_CLAIM", Default: "switchboard_role", Doc: "the claim that holds the role", External: true},
	{Env: "OTEL_TRACES_EXPORTER", Default: "none", Doc: "otlp turns tracing on (console prints spans); read by the OpenTelemetry SDK", External: true},
	{Env: "OTEL_EXPORTER_OTLP_ENDPOINT", Doc: "OTLP collector, e.g. http://otel-collector:4318", External: true},
	{Env: "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", Doc: "OTLP endpoint for traces only", External: true},
	{Env: "OTEL_EXPORTER_OTLP_PROTOCOL", Default: "http/protobuf", Doc: "http/protobuf or grpc", External: true},
	{Env: "OTEL_EXPORTER_OTLP_HEADERS", Doc: "headers for the collector (an API key, say)", Secret: true, External: true},
	{Env: "OTEL_SERVICE_NAME", Default: "switchboard", Doc: "service.name resource attribute", External: true},
	{Env: "OTEL_RESOURCE_ATTRIBUTES", Doc: "extra resource attributes (deployment.environment=prod, …)", External: true},
	{Env: "OTEL_TRACES_SAMPLER", Default: "parentbased_always_on", Doc: "sampler; OTEL_TRACES_SAMPLER_ARG its argument", External: true},
	{Env: "OTEL_TRACES_SAMPLER_ARG", Doc: "the sampler's argument (a ratio for traceidratio)", External: true},
	{Env: "OTEL_SDK_DISABLED", Default: "false", Doc: "true turns tracing off whatever else is set", External: true},
}

// Documented reports whether name is a variable the hub reads (the deploy
// manifests' test refuses variables that are not).
func Documented(name string) bool {
	return slices.ContainsFunc(Reference, func(v Var) bool { return v.Env == name })
}

// IsSecret reports whether a variable's value is masked when printed.
func IsSecret(name string) bool {
	i := slices.IndexFunc(Reference, func(v Var) bool { return v.Env == name })
	return i >= 0 && Reference[i].Secret
}

// Mask hides a secret value but says whether it is set and how long it is,
// which is what an operator checking a deployment needs.
func Mask(v string) string {
	if v == "" {
		return "(unset)"
	}
	return "****** (" + strconv.Itoa(len(v)) + " chars)"
}

// WriteReference writes Reference as the Markdown table the README
// carries (a test keeps the two equal).
func WriteReference(w io.Writer) {
	fmt.Fprintln(w, "| variable | settings file key | default | meaning |")
	fmt.Fprintln(w, "|---|---|---|---|")
	for _, v := range Reference {
		key, def := "`"+v.Key+"`", v.Default
		if v.Key == "" {
			key = "—"
		}
		if def == "" {
			def = "unset"
		}
		doc := v.Doc
		if v.Secret {
			doc += " (secret: masked by `config check`)"
		}
		fmt.Fprintf(w, "| `%s` | %s | %s | %s |\n", v.Env, key, def, doc)
	}
}
