package logging

import (
	"bufio"
	"bytes"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	syslog "github.com/leodido/go-syslog/v4"
	"github.com/leodido/go-syslog/v4/octetcounting"
	"github.com/leodido/go-syslog/v4/rfc5424"
)

// shortTempDir returns a directory whose paths fit a unix socket address
// (about 100 bytes), which t.TempDir's may not.
func shortTempDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "sblog")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func openSyslog(t *testing.T, addr string) (*slog.Logger, *Sink, *bytes.Buffer) {
	t.Helper()
	var notices bytes.Buffer
	l, s, err := Open(&notices, Options{Format: "syslog", SyslogAddr: addr, SyslogTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return l, s, &notices
}

func TestSyslogDatagramSockets(t *testing.T) {
	dir := shortTempDir(t)
	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gram := filepath.Join(dir, "gram.sock")
	ugram, err := net.ListenPacket("unixgram", gram)
	if err != nil {
		t.Fatal(err)
	}
	dev := filepath.Join(dir, "log.sock")
	devlog, err := net.ListenPacket("unixgram", dev)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		addr string
		conn net.PacketConn
	}{
		{"udp://" + udp.LocalAddr().String(), udp},
		{"unixgram://" + gram, ugram},
		{"unix://" + dev, devlog}, // /dev/log style: datagram first
	} {
		t.Run(c.addr, func(t *testing.T) {
			defer c.conn.Close()
			l, s, _ := openSyslog(t, c.addr)
			l.Info("first", "transfer_id", "tr_1", "email", canaryEmail)
			l.Warn("second", "component", "delivery")
			for _, want := range []string{"first", "second"} {
				buf := make([]byte, 65536)
				_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
				n, _, err := c.conn.ReadFrom(buf)
				if err != nil {
					t.Fatal(err)
				}
				got := string(buf[:n])
				if strings.HasSuffix(got, "\n") {
					t.Errorf("datagram carries a newline: %q", got)
				}
				m := parse5424(t, got)
				if *m.Message != want || strings.Contains(got, canaryEmail) {
					t.Errorf("got %q, want message %q and no PHI", got, want)
				}
			}
			if s.Dropped() != 0 {
				t.Errorf("dropped %d", s.Dropped())
			}
		})
	}
}

func TestSyslogUnixStreamFallback(t *testing.T) {
	p := filepath.Join(shortTempDir(t), "stream.sock")
	ln, err := net.Listen("unix", p)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan string, 2)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		sc := bufio.NewScanner(c)
		for sc.Scan() {
			got <- sc.Text()
		}
	}()
	l, _, _ := openSyslog(t, "unix://"+p)
	l.Info("one")
	l.Info("two")
	for _, want := range []string{"one", "two"} {
		select {
		case line := <-got:
			if m := parse5424(t, line); *m.Message != want {
				t.Errorf("got %q, want %q", line, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no line on the unix stream socket")
		}
	}
}

// tcpCollector accepts connections and parses their octet-counted
// messages, sending each (or its parse error) on the returned channel.
func tcpCollector(t *testing.T, ln net.Listener) (<-chan *syslog.Result, <-chan []byte) {
	results := make(chan *syslog.Result, 100)
	raw := make(chan []byte, 10)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				var tee bytes.Buffer
				octetcounting.NewParser(syslog.WithListener(func(r *syslog.Result) { results <- r })).
					Parse(io.TeeReader(c, &tee))
				raw <- tee.Bytes()
			}()
		}
	}()
	return results, raw
}

func TestSyslogTCPOctetCounting(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	results, raw := tcpCollector(t, ln)
	l, s, _ := openSyslog(t, "tcp://"+ln.Addr().String())
	msgs := []string{"one", "two with\nnewline", "three ✓ " + strings.Repeat("x", 3000)}
	for _, m := range msgs {
		l.Info(m, "v", `q"]\`)
	}
	for i := range msgs {
		select {
		case r := <-results:
			if r.Error != nil {
				t.Fatalf("message %d: %v", i, r.Error)
			}
			m := r.Message.(*rfc5424.SyslogMessage)
			want := strings.ReplaceAll(msgs[i], "\n", " ")
			if *m.Message != want || (*m.StructuredData)[DefaultSDID]["v"] != `q"]\` {
				t.Errorf("message %d: %q %v", i, *m.Message, *m.StructuredData)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("message %d not received", i)
		}
	}
	s.Close()
	frames := string(<-raw)
	if len(frames) == 0 || frames[0] < '1' || frames[0] > '9' || !strings.Contains(frames, " <134>1 ") {
		t.Errorf("want MSG-LEN SP SYSLOG-MSG frames: %.80q", frames)
	}
}

func TestSyslogTCPReconnects(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	conns := make(chan net.Conn, 10)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns <- c
		}
	}()
	l, s, notices := openSyslog(t, "tcp://"+ln.Addr().String())
	l.Info("before")
	first := <-conns
	first.Close() // the collector restarts
	deadline := time.Now().Add(5 * time.Second)
	for {
		l.Info("after")
		select {
		case c := <-conns:
			defer c.Close()
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			buf := make([]byte, 4096)
			n, err := c.Read(buf)
			if err != nil || !strings.Contains(string(buf[:n]), " <134>1 ") {
				t.Fatalf("no message on the new connection: %v %q", err, buf[:n])
			}
			t.Logf("reconnected after %d dropped lines; notices: %q", s.Dropped(), notices.String())
			return
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("did not reconnect")
		}
	}
}

func TestSyslogUnreachableDropsWithoutBlocking(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens here now
	l, s, notices := openSyslog(t, "tcp://"+addr)
	start := time.Now()
	for range 100 {
		l.Error("lost", "transfer_id", "tr_1")
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("100 lines to a dead collector took %v", took)
	}
	if s.Dropped() != 100 {
		t.Errorf("dropped %d, want 100", s.Dropped())
	}
	if n := strings.Count(notices.String(), "failing"); n != 1 || strings.Contains(notices.String(), "tr_1") {
		t.Errorf("want one outage notice and no log line on the writer: %q", notices.String())
	}
}

func TestSyslogWriteDeadline(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept() // accept, never read
		if err == nil {
			defer c.Close()
			time.Sleep(10 * time.Second)
		}
	}()
	l, s, _ := openSyslog(t, "tcp://"+ln.Addr().String())
	big := strings.Repeat("x", 1<<20)
	for i := 0; i < 200 && s.Dropped() == 0; i++ {
		start := time.Now()
		l.Info("fill", "v", big)
		if took := time.Since(start); took > 2*time.Second {
			t.Fatalf("a write blocked for %v", took)
		}
	}
	if s.Dropped() == 0 {
		t.Fatal("a collector that never reads never caused a drop")
	}
}

func TestSinkClosed(t *testing.T) {
	l, s, err := Open(io.Discard, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	l.Info("late")
	if s.Dropped() != 1 {
		t.Errorf("dropped %d, want 1", s.Dropped())
	}
}
