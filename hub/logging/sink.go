package logging

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// framing says how one message is delimited on its transport.
type framing int

const (
	frameLine     framing = iota // message + "\n": a writer, a unix stream socket
	frameDatagram                // one message per datagram: udp, unixgram
	frameOctet                   // "LEN SP message": tcp, RFC 6587 octet counting
)

// Sink is where a logger's lines go: the writer given to Open, or a syslog
// socket. It serialises writes, so one line is never interleaved with
// another, and counts the lines it could not deliver. A socket write that
// fails or passes its deadline drops the line, closes the connection and
// leaves the next write to reconnect: logging never blocks for longer than
// the timeout and never panics.
type Sink struct {
	w       io.Writer // Open's writer: the output, or for sockets where outages are reported
	network string    // "" when writing to w
	addr    string
	timeout time.Duration

	mu       sync.Mutex
	conn     net.Conn
	framing  framing
	nextDial time.Time // no redial before this after a failed dial
	failing  bool      // an outage has been reported to w
	closed   bool
	frame    []byte

	dropped atomic.Uint64
}

// ErrSinkClosed is returned for writes after Close.
var ErrSinkClosed = errors.New("logging: sink closed")

// Dropped is the number of lines lost to write errors, timeouts, an
// unreachable syslog address or writes after Close.
func (s *Sink) Dropped() uint64 { return s.dropped.Load() }

// Close closes the syslog connection, if any. It does not close the writer
// given to Open. Lines logged after Close are dropped.
func (s *Sink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.conn != nil {
		err := s.conn.Close()
		s.conn = nil
		return err
	}
	return nil
}

// Write writes one formatted line (the JSON and text handlers call it once
// per record) to the sink's writer.
func (s *Sink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		s.dropped.Add(1)
		return 0, ErrSinkClosed
	}
	n, err := s.w.Write(p)
	if err != nil {
		s.dropped.Add(1)
	}
	return n, err
}

// writeMessage sends one syslog message with the framing of its transport.
func (s *Sink) writeMessage(msg []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		s.dropped.Add(1)
		return ErrSinkClosed
	}
	if s.network == "" {
		s.frame = append(append(s.frame[:0], msg...), '\n')
		if _, err := s.w.Write(s.frame); err != nil {
			s.dropped.Add(1)
			return err
		}
		return nil
	}
	if s.conn == nil {
		if err := s.dial(); err != nil {
			s.dropped.Add(1)
			return err
		}
	}
	switch s.framing {
	case frameOctet:
		s.frame = strconv.AppendInt(s.frame[:0], int64(len(msg)), 10)
		s.frame = append(append(s.frame, ' '), msg...)
	case frameLine:
		s.frame = append(append(s.frame[:0], msg...), '\n')
	default:
		s.frame = append(s.frame[:0], msg...)
	}
	_ = s.conn.SetWriteDeadline(time.Now().Add(s.timeout))
	if _, err := s.conn.Write(s.frame); err != nil {
		s.dropped.Add(1)
		_ = s.conn.Close()
		s.conn = nil
		s.report(err)
		return fmt.Errorf("logging: write syslog %s://%s: %w", s.network, s.addr, err)
	}
	if s.failing {
		s.failing = false
		if s.w != nil {
			fmt.Fprintf(s.w, "logging: syslog %s://%s reachable again; %d lines dropped so far\n", s.network, s.addr, s.dropped.Load())
		}
	}
	return nil
}

// dial connects to the syslog address unless a dial failed less than a
// timeout ago, so an unreachable collector costs each line nothing more
// than a clock read.
func (s *Sink) dial() error {
	now := time.Now()
	if now.Before(s.nextDial) {
		return fmt.Errorf("logging: syslog %s://%s unreachable, retrying after %s", s.network, s.addr, s.nextDial.Format(time.RFC3339))
	}
	var (
		c   net.Conn
		err error
	)
	switch s.network {
	case "unix":
		// /dev/log is a datagram socket on most systems; fall back to a
		// stream socket with newline framing as log/syslog does.
		if c, err = net.DialTimeout("unixgram", s.addr, s.timeout); err == nil {
			s.framing = frameDatagram
		} else if c, err = net.DialTimeout("unix", s.addr, s.timeout); err == nil {
			s.framing = frameLine
		}
	case "unixgram", "udp":
		c, err = net.DialTimeout(s.network, s.addr, s.timeout)
		s.framing = frameDatagram
	case "tcp":
		c, err = net.DialTimeout("tcp", s.addr, s.timeout)
		s.framing = frameOctet
	}
	if err != nil {
		s.nextDial = now.Add(s.timeout)
		s.report(err)
		return fmt.Errorf("logging: dial syslog %s://%s: %w", s.network, s.addr, err)
	}
	s.conn = c
	return nil
}

// report tells Open's writer, once per outage, that lines are being
// dropped. The error names the address and the socket error, never a line.
func (s *Sink) report(err error) {
	if s.failing || s.w == nil {
		return
	}
	s.failing = true
	fmt.Fprintf(s.w, "logging: syslog %s://%s failing, dropping lines until it recovers: %v\n", s.network, s.addr, err)
}

// ParseSyslogAddr splits a SyslogAddr into network and address. "" and
// "stdout" mean Open's writer (network ""). The configuration checks
// addresses with it, so there is one parser of the format.
func ParseSyslogAddr(a string) (network, addr string, err error) {
	if a == "" || a == "stdout" {
		return "", "", nil
	}
	u, err := url.Parse(a)
	if err != nil {
		return "", "", fmt.Errorf("logging: syslog address %q: %w", a, err)
	}
	switch u.Scheme {
	case "unix", "unixgram":
		p := u.Path
		if u.Host != "" { // unix://relative/path
			p = u.Host + u.Path
		}
		if p == "" {
			return "", "", fmt.Errorf("logging: syslog address %q: no socket path", a)
		}
		return u.Scheme, p, nil
	case "udp", "tcp":
		if u.Host == "" {
			return "", "", fmt.Errorf("logging: syslog address %q: no host", a)
		}
		host := u.Host
		if u.Port() == "" {
			host = net.JoinHostPort(u.Hostname(), "514")
		}
		return u.Scheme, host, nil
	default:
		return "", "", fmt.Errorf("logging: syslog address %q: want stdout, unix://, unixgram://, udp:// or tcp://", a)
	}
}
