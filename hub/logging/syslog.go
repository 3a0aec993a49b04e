package logging

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// DefaultSDID is the structured data element that carries a record's
// attributes. 32473 is the IANA example Private Enterprise Number (RFC 5612);
// an operator whose collector keys on their own PEN sets
// Options.StructuredDataID.
const DefaultSDID = "switchboard@32473"

// facilities maps RFC 5424 facility names to their codes.
var facilities = map[string]int{
	"kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6, "news": 7,
	"uucp": 8, "cron": 9, "authpriv": 10, "ftp": 11,
	"local0": 16, "local1": 17, "local2": 18, "local3": 19,
	"local4": 20, "local5": 21, "local6": 22, "local7": 23,
}

// severity maps a slog level to an RFC 5424 severity: debug 7, info 6,
// levels between info and warn 5 (notice), warn 4, error and above 3.
func severity(l slog.Level) int {
	switch {
	case l >= slog.LevelError:
		return 3
	case l >= slog.LevelWarn:
		return 4
	case l > slog.LevelInfo:
		return 5
	case l >= slog.LevelInfo:
		return 6
	default:
		return 7
	}
}

// syslogHandler formats records as RFC 5424 messages:
//
//	<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD-ID key="value" ...] MSG
//
// MSGID is the record's top-level "component" attribute; attributes are
// SD-PARAMs of one element, groups flattened as group.key. It is written by
// hand rather than with go-syslog's rfc5424 builder, which keeps parameters
// in a map (losing their order and repeated keys) and formats with fmt;
// the tests parse the output with go-syslog's RFC 5424 parser instead.
type syslogHandler struct {
	sink     *Sink
	level    slog.Leveler
	facility int
	header   string // " HOSTNAME APP-NAME PROCID " after the timestamp
	sdid     string
	pre      []byte // SD-PARAMs from WithAttrs, each ` name="value"`
	prefix   string // open groups, "a.b."
	msgid    string // from WithAttrs("component", ...), "" if none
}

func newSyslogHandler(s *Sink, level slog.Leveler, facility int, host, app, sdid string) *syslogHandler {
	procid := strconv.Itoa(pid)
	return &syslogHandler{
		sink: s, level: level, facility: facility, sdid: sdid,
		header: " " + headerField(host, 255) + " " + headerField(app, 48) + " " + headerField(procid, 128) + " ",
	}
}

func (h *syslogHandler) Enabled(_ context.Context, l slog.Level) bool {
	return l >= h.level.Level()
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

func (h *syslogHandler) Handle(_ context.Context, r slog.Record) error {
	bp := bufPool.Get().(*[]byte)
	buf := (*bp)[:0]
	buf = append(buf, '<')
	buf = strconv.AppendInt(buf, int64(h.facility*8+severity(r.Level)), 10)
	buf = append(buf, ">1 "...)
	if r.Time.IsZero() {
		buf = append(buf, '-')
	} else {
		// TIME-SECFRAC allows at most six digits.
		buf = r.Time.AppendFormat(buf, "2006-01-02T15:04:05.000000Z07:00")
	}
	buf = append(buf, h.header...)

	msgid := h.msgid
	if h.prefix == "" {
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "component" {
				msgid = a.Value.Resolve().String()
				return false
			}
			return true
		})
	}
	buf = append(buf, headerField(msgid, 32)...)
	buf = append(buf, ' ')

	mark := len(buf)
	buf = append(buf, '[')
	buf = append(buf, h.sdid...)
	start := len(buf)
	buf = append(buf, h.pre...)
	r.Attrs(func(a slog.Attr) bool {
		buf = appendParam(buf, h.prefix, a)
		return true
	})
	if len(buf) == start {
		buf = append(buf[:mark], '-')
	} else {
		buf = append(buf, ']')
	}
	if r.Message != "" {
		buf = append(buf, ' ')
		buf = appendText(buf, r.Message, false)
	}
	err := h.sink.writeMessage(buf)
	*bp = buf
	bufPool.Put(bp)
	return err
}

func (h *syslogHandler) WithAttrs(as []slog.Attr) slog.Handler {
	if len(as) == 0 {
		return h
	}
	c := *h
	c.pre = append([]byte(nil), h.pre...)
	for _, a := range as {
		if h.prefix == "" && a.Key == "component" {
			c.msgid = a.Value.Resolve().String()
		}
		c.pre = appendParam(c.pre, h.prefix, a)
	}
	return &c
}

func (h *syslogHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	c := *h
	c.prefix = h.prefix + name + "."
	return &c
}

// appendParam appends a as ` name="value"`, a group as one parameter per
// member named group.member. Empty attributes and empty groups are skipped,
// as slog's own handlers do.
func appendParam(buf []byte, prefix string, a slog.Attr) []byte {
	v := a.Value.Resolve()
	if v.Kind() == slog.KindGroup {
		g := v.Group()
		if len(g) == 0 {
			return buf
		}
		p := prefix
		if a.Key != "" {
			p = prefix + a.Key + "."
		}
		for _, m := range g {
			buf = appendParam(buf, p, m)
		}
		return buf
	}
	if a.Key == "" {
		return buf
	}
	buf = append(buf, ' ')
	buf = appendSDName(buf, prefix, a.Key)
	buf = append(buf, '=', '"')
	buf = appendValue(buf, v)
	return append(buf, '"')
}

// appendSDName appends prefix+key as an SD-NAME: printable US-ASCII except
// '=', ' ', ']' and '"', at most 32 characters. Other bytes become '_'.
func appendSDName(buf []byte, prefix, key string) []byte {
	n := 0
	for _, s := range [2]string{prefix, key} {
		for i := 0; i < len(s) && n < 32; i++ {
			c := s[i]
			if c <= ' ' || c >= 0x7f || c == '=' || c == ']' || c == '"' {
				c = '_'
			}
			buf = append(buf, c)
			n++
		}
	}
	return buf
}

func appendValue(buf []byte, v slog.Value) []byte {
	switch v.Kind() {
	case slog.KindString:
		return appendText(buf, v.String(), true)
	case slog.KindInt64:
		return strconv.AppendInt(buf, v.Int64(), 10)
	case slog.KindUint64:
		return strconv.AppendUint(buf, v.Uint64(), 10)
	case slog.KindFloat64:
		return strconv.AppendFloat(buf, v.Float64(), 'g', -1, 64)
	case slog.KindBool:
		return strconv.AppendBool(buf, v.Bool())
	case slog.KindDuration:
		return appendText(buf, v.Duration().String(), true)
	case slog.KindTime:
		return v.Time().AppendFormat(buf, time.RFC3339Nano)
	default:
		x := v.Any()
		if err, ok := x.(error); ok {
			return appendText(buf, err.Error(), true)
		}
		if b, err := json.Marshal(x); err == nil {
			return appendText(buf, string(b), true)
		}
		return appendText(buf, fmt.Sprint(x), true)
	}
}

// appendText appends s as UTF-8 with invalid bytes replaced by U+FFFD and
// control characters by a space, so that one message stays one line. In a
// PARAM-VALUE (sd true) '"', '\' and ']' are escaped with '\' (RFC 5424
// section 6.3.3).
func appendText(buf []byte, s string, sd bool) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c < ' ' || c == 0x7f:
				c = ' '
			case sd && (c == '"' || c == '\\' || c == ']'):
				buf = append(buf, '\\')
			}
			buf = append(buf, c)
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			buf = utf8.AppendRune(buf, utf8.RuneError)
		} else {
			buf = append(buf, s[i:i+size]...)
		}
		i += size
	}
	return buf
}

// headerField returns s as an RFC 5424 header field: printable US-ASCII
// (other bytes become '_'), at most max bytes, "-" when empty.
func headerField(s string, max int) string {
	if s == "" {
		return "-"
	}
	if len(s) > max {
		s = s[:max]
	}
	ok := true
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			ok = false
			break
		}
	}
	if ok {
		return s
	}
	b := []byte(s)
	for i, c := range b {
		if c <= ' ' || c >= 0x7f {
			b[i] = '_'
		}
	}
	return string(b)
}
