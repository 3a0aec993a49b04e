package logging

import (
	"errors"
	"io"
	"log/slog"
	"testing"
)

// benchRecord logs what a delivery worker logs on a failed attempt: a
// logger with context from With, five attributes and an error.
func benchRecord(b *testing.B, h slog.Handler, msg string) {
	l := slog.New(h).With("component", "delivery", "transfer_id", "tr_01HQ2Z8XK4", "job_id", 4711)
	err := errors.New("deliver: HTTP 503 from vendor")
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		l.Warn(msg, "destination", "epic-prod", "status", "retrying", "attempt", 3, "latency_ms", 412, "error", err)
	}
}

func jsonHandler() slog.Handler { return slog.NewJSONHandler(io.Discard, nil) }

// BenchmarkJSONHandler is the baseline: slog's JSON handler alone.
func BenchmarkJSONHandler(b *testing.B) { benchRecord(b, jsonHandler(), "delivery attempt failed") }

// BenchmarkRedactingHandler is the same record through Redact.
func BenchmarkRedactingHandler(b *testing.B) {
	benchRecord(b, Redact(jsonHandler()), "delivery attempt failed")
}

// BenchmarkRedactingHandlerScan has a message with enough digits (a
// timestamp) to run the value patterns, the slow path.
func BenchmarkRedactingHandlerScan(b *testing.B) {
	benchRecord(b, Redact(jsonHandler()), "delivery attempt failed, retry at 2026-11-23T04:55:17Z")
}

// BenchmarkSyslogHandler is the same record as RFC 5424 through Redact.
func BenchmarkSyslogHandler(b *testing.B) {
	h := newSyslogHandler(&Sink{w: io.Discard}, slog.LevelInfo, 16, "hub-1", "switchboard", DefaultSDID)
	benchRecord(b, Redact(h), "delivery attempt failed")
}

// BenchmarkMaskText measures the value scan on text that passes the
// prefilter (the regular expression runs) and on text that does not.
func BenchmarkMaskText(b *testing.B) {
	for _, c := range []struct{ name, s string }{
		{"clean", "deliver: HTTP 503 from vendor at 2026-11-23T04:55:17.123456Z, retrying"},
		{"phi", "vendor 422: patient canary.patient@example.test phone +1 555-013-4567 rejected"},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = MaskText(c.s)
			}
		})
	}
}
