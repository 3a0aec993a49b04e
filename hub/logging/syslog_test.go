package logging

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/leodido/go-syslog/v4/rfc5424"
)

// parse5424 parses one message with go-syslog's strict RFC 5424 parser.
func parse5424(t *testing.T, line string) *rfc5424.SyslogMessage {
	t.Helper()
	m, err := rfc5424.NewParser().Parse([]byte(line))
	if err != nil {
		t.Fatalf("not RFC 5424: %v\n%s", err, line)
	}
	return m.(*rfc5424.SyslogMessage)
}

func syslogLines(t *testing.T, o Options, log func(*slog.Logger)) []string {
	t.Helper()
	var buf bytes.Buffer
	o.Format = "syslog"
	l, _, err := Open(&buf, o)
	if err != nil {
		t.Fatal(err)
	}
	log(l)
	return strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
}

func TestSyslogPriority(t *testing.T) {
	cases := []struct {
		level    slog.Level
		facility string
		pri      uint8
		severity uint8
	}{
		{slog.LevelDebug, "", 16*8 + 7, 7},
		{slog.LevelInfo, "", 16*8 + 6, 6},
		{slog.LevelInfo + 2, "", 16*8 + 5, 5},
		{slog.LevelWarn, "", 16*8 + 4, 4},
		{slog.LevelError, "", 16*8 + 3, 3},
		{slog.LevelError + 4, "", 16*8 + 3, 3},
		{slog.LevelInfo, "local7", 23*8 + 6, 6},
		{slog.LevelWarn, "daemon", 3*8 + 4, 4},
	}
	for _, c := range cases {
		lines := syslogLines(t, Options{Level: "debug", Facility: c.facility}, func(l *slog.Logger) {
			l.Log(t.Context(), c.level, "m")
		})
		m := parse5424(t, lines[0])
		if *m.Priority != c.pri || *m.Severity != c.severity {
			t.Errorf("level %v facility %q: priority %d severity %d, want %d %d", c.level, c.facility, *m.Priority, *m.Severity, c.pri, c.severity)
		}
	}
}

func TestSyslogMessage(t *testing.T) {
	tricky := `a"b]c\d`
	lines := syslogLines(t, Options{Hostname: "hub-1", AppName: "switchboard"}, func(l *slog.Logger) {
		l.With("component", "delivery").WithGroup("req").Info("delivered ✓",
			"v", tricky, "n", 3, "ok", true, "took", 1500*time.Millisecond,
			slog.Group("dst", "id", "epic"), "bad key=x]\"", "k", "a very long key name that goes past thirty two chars", "x",
			"error", errors.New("503 from vendor"))
		l.Info("", "component", "audit")
		l.Info("no attributes")
	})
	if len(lines) != 3 {
		t.Fatalf("want 3 lines, got %d:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	m := parse5424(t, lines[0])
	if m.Version != 1 {
		t.Errorf("version %d", m.Version)
	}
	for field, got := range map[string]*string{"hub-1": m.Hostname, "switchboard": m.Appname, "delivery": m.MsgID, "delivered ✓": m.Message} {
		if got == nil || *got != field {
			t.Errorf("want %q, got %v", field, got)
		}
	}
	if m.ProcID == nil || *m.ProcID == "" {
		t.Error("no PROCID")
	}
	if m.Timestamp == nil || time.Since(*m.Timestamp) > time.Minute {
		t.Errorf("timestamp %v", m.Timestamp)
	}
	sd := (*m.StructuredData)[DefaultSDID]
	want := map[string]string{
		"component": "delivery", "req.v": tricky, "req.n": "3", "req.ok": "true", "req.took": "1.5s",
		"req.dst.id": "epic", "req.bad_key_x__": "k", "req.a_very_long_key_name_that_go": "x",
		"req.error": "503 from vendor",
	}
	for k, v := range want {
		if sd[k] != v {
			t.Errorf("SD-PARAM %s = %q, want %q (all: %v)", k, sd[k], v, sd)
		}
	}
	if len(sd) != len(want) {
		t.Errorf("SD-PARAMs %v, want %v", sd, want)
	}
	if !strings.Contains(lines[0], ` req.v="a\"b\]c\\d"`) {
		t.Errorf("PARAM-VALUE not escaped per RFC 5424 6.3.3: %s", lines[0])
	}

	m = parse5424(t, lines[1])
	if *m.MsgID != "audit" || m.Message != nil {
		t.Errorf("MSGID %v MSG %v: %s", m.MsgID, m.Message, lines[1])
	}
	m = parse5424(t, lines[2])
	if m.MsgID != nil || m.StructuredData != nil || !strings.Contains(lines[2], " - - no attributes") {
		t.Errorf("want NILVALUE MSGID and SD: %s", lines[2])
	}
}

func TestSyslogSanitizesHeaderAndText(t *testing.T) {
	lines := syslogLines(t, Options{Hostname: "bad host\n", AppName: "app name that is longer than forty eight characters!!"}, func(l *slog.Logger) {
		l.Info("two\nlines \xff", "v", "x\ny", "component", "a b")
	})
	if len(lines) != 1 {
		t.Fatalf("a record became %d lines", len(lines))
	}
	m := parse5424(t, lines[0])
	if *m.Hostname != "bad_host_" || len(*m.Appname) != 48 || *m.MsgID != "a_b" || *m.Message != "two lines \uFFFD" {
		t.Errorf("header %q %q %q msg %q", *m.Hostname, *m.Appname, *m.MsgID, *m.Message)
	}
}

func TestOpenRejectsBadOptions(t *testing.T) {
	for _, o := range []Options{
		{Level: "loud"},
		{Format: "xml"},
		{Format: "syslog", SyslogAddr: "http://x"},
		{Format: "syslog", SyslogAddr: "tcp://"},
		{Format: "syslog", SyslogAddr: "unix://"},
		{Format: "syslog", Facility: "local9"},
		{Format: "syslog", StructuredDataID: "no-at-sign"},
		{Format: "syslog", StructuredDataID: "bad id@1"},
	} {
		if _, _, err := Open(&bytes.Buffer{}, o); err == nil {
			t.Errorf("Open(%+v) accepted", o)
		}
	}
}

func TestNewIsLenient(t *testing.T) {
	var buf bytes.Buffer
	New(&buf, "loud", "xml").Debug("hidden")
	New(&buf, "loud", "xml").Info("shown")
	if strings.Contains(buf.String(), "hidden") || !strings.Contains(buf.String(), `"msg":"shown"`) {
		t.Errorf("want JSON at info: %s", buf.String())
	}
}

func TestSyslogConcurrentLinesStayWhole(t *testing.T) {
	var buf bytes.Buffer
	l, _, err := Open(&buf, Options{Format: "syslog"})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	for g := range 8 {
		go func() {
			defer func() { done <- struct{}{} }()
			lg := l.With("worker", g)
			for i := range 100 {
				lg.Info("tick", "i", i, "pad", strings.Repeat("p", 200))
			}
		}()
	}
	for range 8 {
		<-done
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 800 {
		t.Fatalf("%d lines, want 800", len(lines))
	}
	for _, line := range lines {
		parse5424(t, line)
	}
}
