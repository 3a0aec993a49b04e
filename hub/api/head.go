package api

import (
	"bufio"
	"net"
	"net/http"
	"strings"
)

// headAsGet serves HEAD wherever GET is served (RFC 9110 §9.3.2: a server
// that answers GET should answer HEAD with the same header fields). The
// router (echo routes on the request it was handed, before any middleware)
// is handed a GET; the request net/http holds stays HEAD, so the server
// itself drops the body. Every answer's Allow lists HEAD beside GET.
func headAsGet(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead {
			get := r.Clone(r.Context())
			get.Method = http.MethodGet
			r = get
		}
		next.ServeHTTP(&allowWriter{ResponseWriter: w}, r)
	})
}

// allowWriter adds HEAD to an Allow header as the status is written.
type allowWriter struct {
	http.ResponseWriter
	wrote bool
}

func (w *allowWriter) WriteHeader(code int) {
	if !w.wrote {
		w.wrote = true
		if allow := w.Header().Get("Allow"); allow != "" {
			w.Header().Set("Allow", withHead(allow))
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *allowWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (flushes,
// deadlines).
func (w *allowWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush passes flushes on (River UI streams, tail -f of the audit log).
func (w *allowWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Hijack passes a hijack on, for handlers that take the connection.
func (w *allowWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

// withHead adds HEAD after GET in an Allow list that has GET without it.
func withHead(allow string) string {
	methods := strings.Split(allow, ", ")
	for _, m := range methods {
		if m == http.MethodHead {
			return allow
		}
	}
	for i, m := range methods {
		if m == http.MethodGet {
			out := append(append(append([]string{}, methods[:i+1]...), http.MethodHead), methods[i+1:]...)
			return strings.Join(out, ", ")
		}
	}
	return allow
}
