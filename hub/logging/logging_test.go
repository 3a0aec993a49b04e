package logging

import (
	"bytes"
	"strings"
	"testing"
)

func TestRedactsPHIKeys(t *testing.T) {
	var buf bytes.Buffer
	l := New(&buf, "debug", "json")
	l.Info("x", "family", "Zzcanary", "email", "z@example.org", "transfer_id", "tr_1")
	l.With("body", "Zzcanary2").Info("y")
	out := buf.String()
	if strings.Contains(out, "Zzcanary") || strings.Contains(out, "z@example.org") {
		t.Fatalf("PHI reached the log: %s", out)
	}
	if !strings.Contains(out, "tr_1") || !strings.Contains(out, Redacted) {
		t.Fatalf("expected kept and redacted attributes: %s", out)
	}
}
