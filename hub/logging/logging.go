// Package logging builds the hub's slog logger. Every log line passes a
// redacting handler: the hub's own code logs no PHI by construction (ids,
// route templates, statuses), and the handler is the second line of defence
// for attributes that a future change might add by mistake.
package logging

import (
	"context"
	"io"
	"log/slog"
	"strings"
)

// phiKeys are attribute keys that must never carry a value into a log.
var phiKeys = map[string]bool{
	"body": true, "payload": true, "resource": true, "request_body": true, "response_body": true,
	"name": true, "family": true, "given": true, "birth_date": true, "birthdate": true,
	"email": true, "phone": true, "address": true, "ssn": true, "mrn": true, "query": true, "url": true,
}

// Redacted replaces a redacted attribute's value.
const Redacted = "[redacted]"

// New returns a JSON (or text) logger at the given level writing to w.
func New(w io.Writer, level, format string) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: lv, ReplaceAttr: redact}
	var h slog.Handler
	if format == "text" {
		h = slog.NewTextHandler(w, opts)
	} else {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(h)
}

func redact(groups []string, a slog.Attr) slog.Attr {
	if phiKeys[strings.ToLower(a.Key)] {
		return slog.String(a.Key, Redacted)
	}
	return a
}

// Discard is a logger that writes nothing, for tests that do not read logs.
func Discard() *slog.Logger { return slog.New(discard{}) }

type discard struct{}

func (discard) Enabled(context.Context, slog.Level) bool  { return false }
func (discard) Handle(context.Context, slog.Record) error { return nil }
func (d discard) WithAttrs([]slog.Attr) slog.Handler      { return d }
func (d discard) WithGroup(string) slog.Handler           { return d }
