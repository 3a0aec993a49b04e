// Package logging builds the hub's slog logger. Every log line passes a
// redacting handler (Redact): the hub's own code logs no PHI by construction
// (ids, route templates, statuses), and the handler is the second line of
// defence for attributes that a future change might add by mistake. Lines
// are written as JSON, logfmt-style text or RFC 5424 syslog, to a writer or
// to a syslog socket (Open).
package logging

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"
)

// Redacted replaces a redacted attribute's value and every masked piece of
// text.
const Redacted = "[redacted]"

// pid is this process's id, the syslog PROCID.
var pid = os.Getpid()

// Options chooses a logger's level and output.
type Options struct {
	// Level is debug, info (default), warn or error; slog's offsets such as
	// "info+2" are accepted too.
	Level string
	// Format is json (default), text or syslog (RFC 5424).
	Format string
	// SyslogAddr is where syslog lines go: "" or "stdout" writes them to
	// Open's writer, one per line; "unix:///dev/log" (a datagram socket, or
	// a stream socket with newline framing), "unixgram:///path",
	// "udp://host:514" (one message per datagram) and "tcp://host:514"
	// (RFC 6587 octet counting) send them to a socket. Only for syslog.
	SyslogAddr string
	// Facility is the syslog facility name, default local0.
	Facility string
	// AppName is the syslog APP-NAME, default "switchboard".
	AppName string
	// Hostname is the syslog HOSTNAME, default os.Hostname().
	Hostname string
	// StructuredDataID is the SD-ID of the element carrying the
	// attributes, default DefaultSDID (which uses the IANA example PEN).
	StructuredDataID string
	// SyslogTimeout bounds each socket dial and write, default one second.
	SyslogTimeout time.Duration
}

// Open returns a logger configured by o, writing to w or, for syslog with a
// socket address, to that socket (w then receives only notices that the
// socket is failing or has recovered). The logger redacts PHI in every
// format. Close the Sink at shutdown to close the socket; its Dropped
// counts lines that could not be written.
func Open(w io.Writer, o Options) (*slog.Logger, *Sink, error) {
	level, err := parseLevel(o.Level)
	if err != nil {
		return nil, nil, err
	}
	s := &Sink{w: w}
	var h slog.Handler
	switch strings.ToLower(o.Format) {
	case "", "json":
		h = slog.NewJSONHandler(s, &slog.HandlerOptions{Level: level})
	case "text":
		h = slog.NewTextHandler(s, &slog.HandlerOptions{Level: level})
	case "syslog":
		sc, err := o.syslog()
		if err != nil {
			return nil, nil, err
		}
		s.network, s.addr, s.timeout = sc.network, sc.addr, sc.timeout
		host := o.Hostname
		if host == "" {
			host, _ = os.Hostname()
		}
		app := o.AppName
		if app == "" {
			app = "switchboard"
		}
		h = newSyslogHandler(s, level, sc.facility, host, app, sc.sdid)
	default:
		return nil, nil, fmt.Errorf("logging: unknown log format %q, want json, text or syslog", o.Format)
	}
	return slog.New(Redact(h)), s, nil
}

// syslogConfig is Options' syslog settings, checked and defaulted.
type syslogConfig struct {
	network, addr, sdid string
	facility            int
	timeout             time.Duration
}

// CheckSyslog reports every problem with o's syslog settings (address,
// facility, structured data id) without opening anything: the
// configuration checks them at start-up with the rest.
func CheckSyslog(o Options) error {
	_, err := o.syslog()
	return err
}

func (o Options) syslog() (syslogConfig, error) {
	var c syslogConfig
	var errs []error
	var err error
	if c.network, c.addr, err = ParseSyslogAddr(o.SyslogAddr); err != nil {
		errs = append(errs, err)
	}
	c.timeout = o.SyslogTimeout
	if c.timeout <= 0 {
		c.timeout = time.Second
	}
	fac := strings.ToLower(o.Facility)
	if fac == "" {
		fac = "local0"
	}
	code, ok := facilities[fac]
	if !ok {
		errs = append(errs, fmt.Errorf("logging: unknown syslog facility %q", o.Facility))
	}
	c.facility = code
	c.sdid = o.StructuredDataID
	if c.sdid == "" {
		c.sdid = DefaultSDID
	}
	if err := validSDID(c.sdid); err != nil {
		errs = append(errs, err)
	}
	return c, errors.Join(errs...)
}

// New returns a redacting logger at the given level writing JSON, text or
// syslog lines to w. An unknown level means info and an unknown format
// JSON, so a typo in configuration never silences the hub; use Open to
// have them rejected.
func New(w io.Writer, level, format string) *slog.Logger {
	o := Options{Level: level, Format: format}
	if _, err := parseLevel(level); err != nil {
		o.Level = "info"
	}
	l, _, err := Open(w, o)
	if err != nil {
		o.Format = "json"
		l, _, _ = Open(w, o)
	}
	return l
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if s == "" {
		return slog.LevelInfo, nil
	}
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("logging: unknown log level %q, want debug, info, warn or error", s)
	}
	return l, nil
}

// validSDID checks an SD-ID: an SD-NAME (1 to 32 printable US-ASCII
// characters other than '=', ' ', ']' and '"'), which without an '@' must
// be one of the IANA-registered ids.
func validSDID(id string) error {
	if len(id) == 0 || len(id) > 32 {
		return fmt.Errorf("logging: structured data id %q: want 1 to 32 characters", id)
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c <= ' ' || c >= 0x7f || c == '=' || c == ']' || c == '"' {
			return fmt.Errorf("logging: structured data id %q: character %q not allowed", id, c)
		}
	}
	if !strings.Contains(id, "@") {
		return fmt.Errorf("logging: structured data id %q: want name@enterprise-number", id)
	}
	return nil
}

// Discard is a logger that writes nothing, for tests that do not read logs.
func Discard() *slog.Logger { return slog.New(discard{}) }

type discard struct{}

func (discard) Enabled(context.Context, slog.Level) bool  { return false }
func (discard) Handle(context.Context, slog.Record) error { return nil }
func (d discard) WithAttrs([]slog.Attr) slog.Handler      { return d }
func (d discard) WithGroup(string) slog.Handler           { return d }
