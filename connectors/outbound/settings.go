package outbound

import (
	"log/slog"
	"time"
)

// Settings are the outbound fields every connector's configuration block
// accepts; connectors embed them inline, and their doc tags document them
// in every connector's spec (connectors.ConfigFields):
//
//	type Config struct {
//		BaseURL           string `yaml:"base_url"`
//		outbound.Settings `yaml:",inline"`
//	}
type Settings struct {
	Timeout         time.Duration `yaml:"timeout" doc:"one HTTP try, e.g. 10s (default 10s)"`
	RetryMax        int           `yaml:"retry_max" doc:"extra tries within one delivery attempt (default 2; -1 for none)"`
	BreakerFailures uint32        `yaml:"breaker_failures" doc:"consecutive failed attempts that open the breaker (default 5)"`
	BreakerOpenFor  time.Duration `yaml:"breaker_open_for" doc:"how long the breaker stays open, e.g. 30s (default 30s)"`
	// MaxResponseBytes bounds one answer body (default 4 MiB).
	MaxResponseBytes int64 `yaml:"max_response_bytes" doc:"the largest answer body read, in bytes (default 4194304); a larger one is an error, and a poll asks for smaller pages"`
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
