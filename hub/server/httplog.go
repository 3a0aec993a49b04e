package server

import (
	"log"
	"log/slog"
	"strings"
)

// httpErrorLog routes net/http's own error lines into the hub's logger: a
// failed TLS handshake (plain HTTP sent to the TLS port, a scanner, a
// client that refuses the certificate) at debug, since the internet sends
// plenty; anything else at warn. The peer's address is cut from handshake
// lines: the access log keeps no client addresses either.
func httpErrorLog(l *slog.Logger) *log.Logger {
	return log.New(httpErrorWriter{l}, "", 0)
}

type httpErrorWriter struct{ log *slog.Logger }

const handshakePrefix = "http: TLS handshake error from "

func (w httpErrorWriter) Write(p []byte) (int, error) {
	msg := strings.TrimSpace(string(p))
	if rest, ok := strings.CutPrefix(msg, handshakePrefix); ok {
		reason := rest
		if i := strings.Index(rest, ": "); i >= 0 {
			reason = rest[i+2:]
		}
		w.log.Debug("TLS handshake failed", "reason", reason)
		return len(p), nil
	}
	w.log.Warn("http server", "detail", msg)
	return len(p), nil
}
