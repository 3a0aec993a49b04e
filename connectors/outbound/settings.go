package outbound

import (
	"log/slog"
	"time"
)

// Settings are the outbound fields every connector's configuration block
// accepts; connectors embed them inline:
//
//	type Config struct {
//		BaseURL           string `yaml:"base_url"`
//		outbound.Settings `yaml:",inline"`
//	}
type Settings struct {
	Timeout         time.Duration `yaml:"timeout"`
	RetryMax        int           `yaml:"retry_max"`
	BreakerFailures uint32        `yaml:"breaker_failures"`
	BreakerOpenFor  time.Duration `yaml:"breaker_open_for"`
	// MaxResponseBytes bounds one answer body (default 4 MiB).
	MaxResponseBytes int64 `yaml:"max_response_bytes"`
}

// SettingsFields documents Settings for a connector's Spec.Fields.
func SettingsFields(fields map[string]string) map[string]string {
	fields["timeout"] = "one HTTP try, e.g. 10s (default 10s)"
	fields["retry_max"] = "extra tries within one delivery attempt (default 2; -1 for none)"
	fields["breaker_failures"] = "consecutive failed attempts that open the breaker (default 5)"
	fields["breaker_open_for"] = "how long the breaker stays open, e.g. 30s (default 30s)"
	fields["max_response_bytes"] = "the largest answer body read, in bytes (default 4194304); a larger one is an error, and a poll asks for smaller pages"
	return fields
}

// Options turns the settings into client Options for the destination name,
// for a connector that completes them (Options.Classify) before New.
func (s Settings) Options(name string, log *slog.Logger) Options {
	return Options{Name: name, Timeout: s.Timeout, RetryMax: s.RetryMax,
		BreakerFailures: s.BreakerFailures, BreakerOpenFor: s.BreakerOpenFor, MaxResponseBytes: s.MaxResponseBytes, Logger: log}
}

// Client builds the destination's client from its settings.
func (s Settings) Client(name string, log *slog.Logger) *Client {
	return New(s.Options(name, log))
}
